// Internal gnuplot helpers shared by plots.cpp and figures.cpp (see gnuplot_run.h).
#include "gnuplot_run.h"

#include <signopt/io/files.h>
#include <signopt/report/process.h>

#include <cstdio>
#include <fstream>
#include <stdexcept>

namespace signopt::report::detail {
namespace fs = std::filesystem;

std::string gnuplot_quoted(const std::string& text) {
  std::string out = "'";
  for (const char ch : text)
    out += ch == '\'' ? std::string("''") : std::string(1, ch);
  return out + "'";
}

std::string gnuplot_number(double v) {
  char buf[40];
  std::snprintf(buf, sizeof buf, "%.9g", v);
  return buf;
}

void write_text_file(const fs::path& path, const std::string& text) {
  io::write_file_atomic(path, text); // checked and atomic: a full disk is an error naming the file
}

PlotOutcome run_gnuplot(
    const fs::path& dir,
    const std::string& script,
    const std::vector<std::string>& stems,
    const fs::path& base_dir,
    const std::string& gnuplot,
    const std::string& not_found_note) {
  PlotOutcome outcome;
  const std::string program = find_program(gnuplot);
  if (program.empty()) {
    outcome.note = not_found_note;
    return outcome;
  }
  ProcessSpec spec;
  spec.program = program;
  spec.args = {script};
  spec.cwd = dir.string();
  spec.log_file = (dir / "gnuplot.log").string();
  const ProcessExit exit = wait_process(start_process(spec));
  std::vector<std::string> missing;
  for (const auto& stem : stems) {
    for (const char* ext : {".png", ".svg"}) {
      const fs::path file = dir / (stem + ext);
      if (fs::exists(file) && fs::file_size(file) > 0)
        outcome.files.push_back(fs::relative(file, base_dir).string());
      else
        missing.push_back(file.filename().string());
    }
  }
  if (exit.code != 0 || !missing.empty()) {
    std::ifstream log(dir / "gnuplot.log");
    std::string first_lines, line;
    for (int i = 0; i < 5 && std::getline(log, line); ++i)
      first_lines += (i ? " / " : "") + line;
    outcome.note = "gnuplot failed (exit status " + std::to_string(exit.code) + ")" +
        (missing.empty() ? std::string() : ", missing " + std::to_string(missing.size()) + " files") + ": " +
        first_lines + " (log: " + (dir / "gnuplot.log").string() + ").";
  }
  outcome.made = !outcome.files.empty();
  return outcome;
}

} // namespace signopt::report::detail
