// libFuzzer target: the IDX reader (plain and gzipped) and the CIFAR-10 binary reader on arbitrary bytes.
// Bad files must end in DataError naming the file, never a crash, a hang or an allocation the file's size
// does not justify.
#include <signopt/data/datasets.h>

#include <unistd.h>

#include <cstdint>
#include <filesystem>
#include <fstream>
#include <string>

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  namespace fs = std::filesystem;
  if (size == 0)
    return 0;
  static const fs::path dir = fs::temp_directory_path() / ("signopt_fuzz_data_" + std::to_string(::getpid()));
  const int mode = data[0] % 3; // 0: IDX images (3 dims), 1: IDX labels (1 dim), 2: a CIFAR-10 batch file
  const char* bytes = reinterpret_cast<const char*>(data + 1);
  const auto n = static_cast<std::streamsize>(size - 1);
  try {
    if (mode < 2) {
      fs::create_directories(dir);
      const fs::path path = dir / "file.idx";
      std::ofstream(path, std::ios::binary | std::ios::trunc).write(bytes, n);
      signopt::data::read_idx(path.string(), mode == 0 ? 3 : 1);
    } else {
      // Every file of the CIFAR-10 layout holds the same fuzzed bytes.
      const fs::path cifar = dir / "cifar" / "cifar-10-batches-bin";
      fs::create_directories(cifar);
      for (const char* name : {"data_batch_1.bin", "data_batch_2.bin", "data_batch_3.bin", "data_batch_4.bin",
                               "data_batch_5.bin", "test_batch.bin"})
        std::ofstream(cifar / name, std::ios::binary | std::ios::trunc).write(bytes, n);
      signopt::data::load_dataset("cifar10", (dir / "cifar").string(), {});
    }
  } catch (const signopt::data::DataError&) {
  }
  return 0;
}
