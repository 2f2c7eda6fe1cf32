// Reading MNIST from raw (not gzipped) IDX files, for the compiled trainer;
// and the one IDX header parser, which the Python package uses too
// (cpp_grad/datasets.py opens the files, inflates gzip and hands it the bytes).
//
// IDX layout: a big-endian 32-bit magic number 0x000008NN (unsigned bytes,
// NN dimensions), NN big-endian 32-bit sizes, then the bytes row-major.
// Images are 0x00000803 (count, rows, cols); labels are 0x00000801 (count).
// scripts/mnist_to_idx.py writes the four files from keras' mnist.npz.
//
// Every malformed input throws std::runtime_error naming the file and the
// numbers that disagree; nothing is read past what the file holds.
#pragma once

#include <cstddef>
#include <cstdint>
#include <fstream>
#include <limits>
#include <stdexcept>
#include <string>
#include <vector>

namespace cpp_grad {

struct IdxImages {
  std::size_t count = 0, rows = 0, cols = 0;
  std::vector<std::uint8_t> pixels;  // count * rows * cols, row-major
};

struct MnistData {
  IdxImages train_images;
  std::vector<std::uint8_t> train_labels;
  IdxImages test_images;
  std::vector<std::uint8_t> test_labels;
};

// An IDX header: the magic number, the sizes, and the bytes they promise.
struct IdxHeader {
  std::uint32_t magic = 0;
  std::vector<std::size_t> sizes;
  std::size_t header_bytes = 0;       // 4 + 4 * dimensions
  unsigned long long data_bytes = 0;  // the product of the sizes, unless it overflows
  bool overflows = false;             // the product is past 2^64 - header_bytes
  std::string shape;                  // "3 x 28 x 28", for messages
};

// The most bytes a header can take: 255 dimensions.
constexpr std::size_t kIdxMaxHeaderBytes = 4 + 4 * 255;
// Any IDX file of unsigned bytes (0x000008NN), with parse_idx_header.
constexpr std::uint32_t kIdxAnyBytes = 0;
// numpy 1.x caps arrays at 32 dimensions; a larger count is a corrupt header.
constexpr std::size_t kIdxMaxDimensions = 32;

namespace detail {

constexpr std::uint32_t kIdxImagesMagic = 0x00000803;
constexpr std::uint32_t kIdxLabelsMagic = 0x00000801;

inline std::string idx_hex(std::uint32_t value) {
  static const char digits[] = "0123456789ABCDEF";
  std::string text = "0x";
  for (int shift = 28; shift >= 0; shift -= 4) text += digits[(value >> shift) & 0xF];
  return text;
}

inline std::uint32_t be32(const std::uint8_t* bytes) {
  return (std::uint32_t{bytes[0]} << 24) | (std::uint32_t{bytes[1]} << 16) |
         (std::uint32_t{bytes[2]} << 8) | std::uint32_t{bytes[3]};
}

// An open IDX file with its header parsed and its size checked against it.
struct IdxFile {
  std::ifstream stream;
  std::vector<std::size_t> sizes;
  std::size_t data_bytes = 0;
};

// "IDX file 'p': <claim> N bytes, but the file holds M".
inline std::runtime_error size_error(const std::string& path, const std::string& claim,
                                     unsigned long long needed, unsigned long long held) {
  return std::runtime_error("IDX file '" + path + "': " + claim + " " + std::to_string(needed) +
                            " bytes, but the file holds " + std::to_string(held));
}

}  // namespace detail

// Parses the header at the start of an IDX file: `bytes` holds its first
// `available` bytes (all of them, or at least kIdxMaxHeaderBytes).
// `expected_magic` is the one magic number accepted, or kIdxAnyBytes.
inline IdxHeader parse_idx_header(const std::uint8_t* bytes, std::size_t available,
                                  const std::string& path, std::uint32_t expected_magic) {
  if (available < 4) throw detail::size_error(path, "the magic number needs", 4, available);
  IdxHeader header;
  header.magic = detail::be32(bytes);
  const std::size_t ndim = header.magic & 0xFF;
  if (expected_magic == kIdxAnyBytes) {
    if ((header.magic >> 8) != 0x08 || ndim < 1 || ndim > kIdxMaxDimensions)
      throw std::runtime_error("IDX file '" + path +
                               "': wrong magic number: expected 0x000008NN (unsigned bytes, NN = "
                               "01.." + std::to_string(kIdxMaxDimensions) +
                               " dimensions), found " + detail::idx_hex(header.magic));
  } else if (header.magic != expected_magic) {
    throw std::runtime_error("IDX file '" + path + "': wrong magic number: expected " +
                             detail::idx_hex(expected_magic) + ", found " +
                             detail::idx_hex(header.magic));
  }
  header.header_bytes = 4 + 4 * ndim;
  if (available < header.header_bytes)
    throw detail::size_error(path, "a " + std::to_string(ndim) + "-d header needs",
                             header.header_bytes, available);

  // Sizes are 32-bit each, so their product can overflow 64 bits; any
  // product that large is already more than the file can hold.
  const unsigned long long most = std::numeric_limits<unsigned long long>::max();
  unsigned long long promised = 1;
  for (std::size_t i = 0; i < ndim; ++i) {
    const std::uint32_t size = detail::be32(bytes + 4 + 4 * i);
    header.sizes.push_back(size);
    header.shape += (i ? " x " : "") + std::to_string(size);
    header.overflows = header.overflows || (size != 0 && promised > most / size);
    promised = header.overflows ? 0 : promised * size;
  }
  header.overflows = header.overflows || promised > most - header.header_bytes;
  header.data_bytes = header.overflows ? 0 : promised;
  return header;
}

// Checks that a file of `file_bytes` bytes holds exactly what its header
// promises (`at_least`: the file may hold more than was counted).
inline void check_idx_size(const IdxHeader& header, const std::string& path,
                           unsigned long long file_bytes, bool at_least = false) {
  const std::string held = (at_least ? "at least " : "") + std::to_string(file_bytes);
  if (header.overflows)
    throw std::runtime_error("IDX file '" + path + "': header (" + header.shape +
                             ") promises more than 2^64 bytes, but the file holds " + held);
  const unsigned long long promised = header.header_bytes + header.data_bytes;
  const char* why = file_bytes < promised ? " (truncated)" : " (trailing bytes after the data)";
  if (promised != file_bytes || at_least)
    throw std::runtime_error("IDX file '" + path + "': header (" + header.shape + ") promises " +
                             std::to_string(promised) + " bytes, but the file holds " + held + why);
}

namespace detail {

inline IdxFile open_idx(const std::string& path, std::uint32_t expected_magic) {
  IdxFile file;
  file.stream.open(path, std::ios::binary);
  if (!file.stream) throw std::runtime_error("cannot open IDX file '" + path + "'");
  file.stream.seekg(0, std::ios::end);
  const std::streamoff end = file.stream.tellg();
  if (end < 0) throw std::runtime_error("cannot find the size of IDX file '" + path + "'");
  const auto file_size = static_cast<unsigned long long>(end);
  file.stream.seekg(0, std::ios::beg);

  std::uint8_t head[kIdxMaxHeaderBytes] = {};
  file.stream.read(reinterpret_cast<char*>(head), sizeof head);
  const IdxHeader header =
      parse_idx_header(head, static_cast<std::size_t>(file.stream.gcount()), path, expected_magic);
  check_idx_size(header, path, file_size);
  file.stream.clear();
  file.stream.seekg(static_cast<std::streamoff>(header.header_bytes), std::ios::beg);
  file.sizes = header.sizes;
  file.data_bytes = static_cast<std::size_t>(header.data_bytes);
  return file;
}

inline std::vector<std::uint8_t> read_idx_data(IdxFile& file, const std::string& path) {
  std::vector<std::uint8_t> data(file.data_bytes);
  file.stream.read(reinterpret_cast<char*>(data.data()), static_cast<std::streamsize>(data.size()));
  if (static_cast<std::size_t>(file.stream.gcount()) != data.size())
    throw std::runtime_error("IDX file '" + path + "': read " +
                             std::to_string(file.stream.gcount()) + " of " +
                             std::to_string(data.size()) + " data bytes");
  return data;
}

}  // namespace detail

// Images from an IDX file with magic 0x00000803 (count, rows, cols).
inline IdxImages read_idx_images(const std::string& path) {
  detail::IdxFile file = detail::open_idx(path, detail::kIdxImagesMagic);
  IdxImages images;
  images.count = file.sizes[0];
  images.rows = file.sizes[1];
  images.cols = file.sizes[2];
  images.pixels = detail::read_idx_data(file, path);
  return images;
}

// Labels from an IDX file with magic 0x00000801; each must be below
// num_classes, since a bad label would index past the network's outputs.
inline std::vector<std::uint8_t> read_idx_labels(const std::string& path,
                                                 unsigned num_classes = 10) {
  detail::IdxFile file = detail::open_idx(path, detail::kIdxLabelsMagic);
  std::vector<std::uint8_t> labels = detail::read_idx_data(file, path);
  for (std::size_t i = 0; i < labels.size(); ++i)
    if (labels[i] >= num_classes)
      throw std::runtime_error("IDX file '" + path + "': label " + std::to_string(labels[i]) +
                               " at index " + std::to_string(i) + " is outside 0.." +
                               std::to_string(num_classes - 1));
  return labels;
}

// The four MNIST files, raw, under their original names, from one folder.
inline MnistData load_mnist_idx(const std::string& dir) {
  const std::string prefix = dir.empty() || dir.back() == '/' ? dir : dir + "/";
  MnistData data;
  data.train_images = read_idx_images(prefix + "train-images-idx3-ubyte");
  data.train_labels = read_idx_labels(prefix + "train-labels-idx1-ubyte");
  data.test_images = read_idx_images(prefix + "t10k-images-idx3-ubyte");
  data.test_labels = read_idx_labels(prefix + "t10k-labels-idx1-ubyte");
  const auto check_counts = [&](const IdxImages& images, std::size_t labels, const char* split) {
    if (images.count != labels)
      throw std::runtime_error("MNIST in '" + dir + "': " + std::to_string(images.count) + " " +
                               split + " images but " + std::to_string(labels) + " " + split +
                               " labels");
  };
  check_counts(data.train_images, data.train_labels.size(), "train");
  check_counts(data.test_images, data.test_labels.size(), "test");
  // One model reads both: a test image of another size would be read with
  // the training images' row length.
  if (data.test_images.rows != data.train_images.rows ||
      data.test_images.cols != data.train_images.cols)
    throw std::runtime_error("MNIST in '" + dir + "': train images are " +
                             std::to_string(data.train_images.rows) + " x " +
                             std::to_string(data.train_images.cols) + " pixels but test images " +
                             std::to_string(data.test_images.rows) + " x " +
                             std::to_string(data.test_images.cols));
  return data;
}

}  // namespace cpp_grad
