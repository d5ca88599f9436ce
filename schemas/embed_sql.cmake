# Generates a C++ source that holds every schemas/sql/NNNN_*.sql file verbatim, so the programs
# carry their migrations and need no files at run time. Called with -DOUT=... -DSQL_FILES=a;b.
string(REPLACE "|" ";" SQL_FILES "${SQL_FILES}")
set(body "")
foreach(path IN LISTS SQL_FILES)
  get_filename_component(name "${path}" NAME)
  file(READ "${path}" text)
  set(body "${body}  {\"${name}\", R\"tw_sql(${text})tw_sql\"},\n")
endforeach()
file(WRITE "${OUT}.tmp" "// Generated from schemas/sql by schemas/embed_sql.cmake. Do not edit.\n#include \"schemas/embedded_sql.h\"\n\nnamespace tw {\n\nconst std::vector<EmbeddedSqlFile>& EmbeddedMigrationFiles() {\n  static const std::vector<EmbeddedSqlFile> kFiles = {\n${body}  };\n  return kFiles;\n}\n\n}  // namespace tw\n")
file(COPY_FILE "${OUT}.tmp" "${OUT}" ONLY_IF_DIFFERENT)
