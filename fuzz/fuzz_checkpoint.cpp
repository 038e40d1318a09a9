// libFuzzer target: the checkpoint container's decoder (header, checksums, lengths) on arbitrary bytes.
// It must either return a checkpoint whose payload re-encodes to the same bytes or throw CheckpointError.
#include <signopt/io/checkpoint_file.h>

#include <cstdint>
#include <cstdlib>
#include <string>

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string bytes(reinterpret_cast<const char*>(data), size);
  try {
    const auto c = signopt::io::decode_checkpoint(bytes, "fuzz");
    // What decodes must be exactly what an encoder of its header and payload writes.
    if (signopt::io::encode_checkpoint(c.header, c.payload) != bytes)
      std::abort();
  } catch (const signopt::io::CheckpointError&) {
  }
  return 0;
}
