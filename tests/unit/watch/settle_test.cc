#include "watch/settle.h"

#include <gtest/gtest.h>

#include "tests/testing/fake_clock.h"

namespace tw::watch {
namespace {

using std::chrono::milliseconds;

TEST(SettleTrackerTest, SettlesAfterTheWindowWithoutChange) {
  testing::FakeClock clock;
  SettleTracker tracker(milliseconds(2000));
  EXPECT_FALSE(tracker.IsSettled("a.pt", clock.Now()));
  tracker.Observe("a.pt", 100, 1, clock.Now(), false);
  EXPECT_FALSE(tracker.IsSettled("a.pt", clock.Now()));
  clock.Advance(milliseconds(1999));
  tracker.Observe("a.pt", 100, 1, clock.Now(), false);  // Same stat: the window keeps running.
  EXPECT_FALSE(tracker.IsSettled("a.pt", clock.Now()));
  clock.Advance(milliseconds(1));
  EXPECT_TRUE(tracker.IsSettled("a.pt", clock.Now()));
}

TEST(SettleTrackerTest, SizeOrMtimeChangeRestartsTheWindow) {
  testing::FakeClock clock;
  SettleTracker tracker(milliseconds(1000));
  tracker.Observe("a.pt", 100, 1, clock.Now(), false);
  clock.Advance(milliseconds(900));
  tracker.Observe("a.pt", 200, 1, clock.Now(), false);
  clock.Advance(milliseconds(900));
  EXPECT_FALSE(tracker.IsSettled("a.pt", clock.Now()));
  tracker.Observe("a.pt", 200, 2, clock.Now(), false);
  clock.Advance(milliseconds(999));
  EXPECT_FALSE(tracker.IsSettled("a.pt", clock.Now()));
  clock.Advance(milliseconds(1));
  EXPECT_TRUE(tracker.IsSettled("a.pt", clock.Now()));
}

TEST(SettleTrackerTest, RenameSettlesAtOnceUntilTheFileChanges) {
  testing::FakeClock clock;
  SettleTracker tracker(milliseconds(1000));
  tracker.Observe("a.pt", 100, 1, clock.Now(), true);
  EXPECT_TRUE(tracker.IsSettled("a.pt", clock.Now()));
  EXPECT_TRUE(tracker.ArrivedByRename("a.pt"));
  tracker.Observe("a.pt", 100, 1, clock.Now(), false);  // A rescan does not undo the rename.
  EXPECT_TRUE(tracker.IsSettled("a.pt", clock.Now()));
  tracker.Observe("a.pt", 150, 1, clock.Now(), false);  // Written to after the rename.
  EXPECT_FALSE(tracker.IsSettled("a.pt", clock.Now()));
  EXPECT_FALSE(tracker.ArrivedByRename("a.pt"));
}

TEST(SettleTrackerTest, NextDeadlineIsTheEarliestUnsettledWindow) {
  testing::FakeClock clock;
  SettleTracker tracker(milliseconds(1000));
  EXPECT_EQ(tracker.NextDeadline(), std::nullopt);
  const SteadyTime start = clock.Now();
  tracker.Observe("a.pt", 1, 1, clock.Now(), false);
  clock.Advance(milliseconds(300));
  tracker.Observe("b.pt", 1, 1, clock.Now(), false);
  tracker.Observe("c.pt", 1, 1, clock.Now(), true);  // Settled by rename: no deadline.
  EXPECT_EQ(tracker.NextDeadline(), start + milliseconds(1000));
  tracker.Forget("a.pt");
  EXPECT_EQ(tracker.NextDeadline(), start + milliseconds(1300));
  EXPECT_EQ(tracker.StableSince("b.pt"), start + milliseconds(300));
  EXPECT_EQ(tracker.StableSince("a.pt"), std::nullopt);
  EXPECT_FALSE(tracker.IsSettled("a.pt", clock.Now() + milliseconds(5000)));
  tracker.Forget("b.pt");
  EXPECT_EQ(tracker.NextDeadline(), std::nullopt);
  EXPECT_EQ(tracker.size(), 1u);
}

TEST(SettleTrackerTest, ZeroSettleIsSettledAtOnce) {
  testing::FakeClock clock;
  SettleTracker tracker(milliseconds(0));
  tracker.Observe("a.pt", 1, 1, clock.Now(), false);
  EXPECT_TRUE(tracker.IsSettled("a.pt", clock.Now()));
}

}  // namespace
}  // namespace tw::watch
