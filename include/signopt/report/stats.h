// The statistics of experiment reports: signopt's stats unit (signopt/stats/stats.h), under the names
// report:: has always offered.
#pragma once

#include <signopt/stats/stats.h>

namespace signopt::report {

using stats::holm_adjusted;
using stats::PairedResult;
using stats::paired_t_test;
using stats::regularized_incomplete_beta;
using stats::SampleSummary;
using stats::student_t_cdf;
using stats::student_t_two_sided_p;
using stats::summarize;
using stats::welch_t_test;
using stats::WelchResult;

} // namespace signopt::report
