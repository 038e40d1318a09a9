// The built-in launcher's judgement of a failed job (apps/launch_policy.h): which statuses mean a worker only
// waited for a failed peer, and which rank the job's error blames whatever order the workers were reaped in.
#include "launch_policy.h"

#include <gtest/gtest.h>

#include <sys/wait.h>

#include <csignal>
#include <vector>

namespace {

using signopt::apps::blamed_rank;
using signopt::apps::exit_code;
using signopt::apps::failed_waiting;
using signopt::apps::is_failure;

int exited(int code) {
  return W_EXITCODE(code, 0);
}

int killed_by(int sig) {
  return W_EXITCODE(0, sig);
}

TEST(LaunchPolicy, ExitCodesAreTheShells) {
  EXPECT_EQ(exit_code(exited(0)), 0);
  EXPECT_EQ(exit_code(exited(3)), 3);
  EXPECT_EQ(exit_code(killed_by(SIGKILL)), 128 + SIGKILL);
  EXPECT_EQ(exit_code(killed_by(SIGPIPE)), 128 + SIGPIPE);
}

TEST(LaunchPolicy, SuccessAndInterruptionAreNotFailures) {
  EXPECT_FALSE(is_failure(exited(0)));
  EXPECT_FALSE(is_failure(exited(130)));
  EXPECT_TRUE(is_failure(exited(1)));
  EXPECT_TRUE(is_failure(exited(4)));
  EXPECT_TRUE(is_failure(killed_by(SIGSEGV)));
  EXPECT_TRUE(is_failure(killed_by(SIGPIPE)));
}

TEST(LaunchPolicy, WaitingMeansAPeerFailureStatusOrABrokenPipe) {
  EXPECT_TRUE(failed_waiting(exited(4)));
  EXPECT_TRUE(failed_waiting(killed_by(SIGPIPE)));
  EXPECT_FALSE(failed_waiting(exited(1)));
  EXPECT_FALSE(failed_waiting(exited(2)));
  EXPECT_FALSE(failed_waiting(exited(3)));
  EXPECT_FALSE(failed_waiting(killed_by(SIGKILL)));
  EXPECT_FALSE(failed_waiting(killed_by(SIGABRT)));
  EXPECT_FALSE(failed_waiting(killed_by(SIGSEGV)));
}

// The case CI met: rank 1 died (status 3); rank 0, writing to its socket, was killed by SIGPIPE and was
// reaped first. The job blames rank 1.
TEST(LaunchPolicy, TheRankThatDiedIsBlamedThoughAWaitingPeerWasReapedFirst) {
  const std::vector<int> statuses = {killed_by(SIGPIPE), exited(3)};
  EXPECT_EQ(blamed_rank(statuses, {0, 1}), 1);
  EXPECT_EQ(blamed_rank(statuses, {1, 0}), 1);
  const std::vector<int> peer_failures = {exited(4), exited(4), killed_by(SIGSEGV), exited(4)};
  EXPECT_EQ(blamed_rank(peer_failures, {0, 1, 3, 2}), 2);
}

TEST(LaunchPolicy, AmongOwnFailuresTheFirstReapedIsBlamed) {
  const std::vector<int> statuses = {exited(1), exited(2), exited(4)};
  EXPECT_EQ(blamed_rank(statuses, {2, 1, 0}), 1);
  EXPECT_EQ(blamed_rank(statuses, {0, 1, 2}), 0);
}

TEST(LaunchPolicy, WhenEveryFailedRankWaitedTheFirstReapedIsBlamed) {
  // A hung rank (killed by the launcher, so not in the failures) left every other rank waiting.
  const std::vector<int> statuses = {exited(4), killed_by(SIGKILL), exited(4)};
  EXPECT_EQ(blamed_rank(statuses, {2, 0}), 2);
  EXPECT_EQ(blamed_rank(statuses, {}), -1);
}

} // namespace
