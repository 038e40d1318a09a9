// Internal: what the report's plots and the diagnostics' figures share: gnuplot quoting and numbers,
// writing a text file, and running gnuplot on a script and checking the PNG/SVG files it made.
#pragma once

#include <signopt/report/report.h>

#include <filesystem>
#include <string>
#include <vector>

namespace signopt::report::detail {

/// A gnuplot single-quoted string ('' stands for a quote).
std::string gnuplot_quoted(const std::string& text);

/// A number as gnuplot data (%.9g).
std::string gnuplot_number(double v);

/// Writes `text` to `path`, replacing it; std::runtime_error naming the path when that fails.
void write_text_file(const std::filesystem::path& path, const std::string& text);

/// Runs `gnuplot` on dir/`script` (already written) in `dir` and lists <stem>.png and <stem>.svg of every
/// stem, relative to `base_dir`. `not_found_note` is the outcome's note when gnuplot cannot be found;
/// a failing gnuplot or a missing file gives a note with its exit status and the first lines of its log.
PlotOutcome run_gnuplot(
    const std::filesystem::path& dir,
    const std::string& script,
    const std::vector<std::string>& stems,
    const std::filesystem::path& base_dir,
    const std::string& gnuplot,
    const std::string& not_found_note);

} // namespace signopt::report::detail
