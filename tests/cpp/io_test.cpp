// Tests for include/cpp_grad/io.hpp: IDX files written here byte by byte.
#include "cpp_grad/io.hpp"

#include <gtest/gtest.h>
#include <unistd.h>

#include <cstdint>
#include <cstdio>
#include <fstream>
#include <stdexcept>
#include <string>
#include <vector>

namespace {

using Bytes = std::vector<std::uint8_t>;

void append_be32(Bytes& bytes, std::uint32_t value) {
  for (int shift = 24; shift >= 0; shift -= 8) bytes.push_back((value >> shift) & 0xFF);
}

Bytes idx_bytes(std::uint32_t magic, const std::vector<std::uint32_t>& sizes, const Bytes& data) {
  Bytes bytes;
  append_be32(bytes, magic);
  for (std::uint32_t size : sizes) append_be32(bytes, size);
  bytes.insert(bytes.end(), data.begin(), data.end());
  return bytes;
}

Bytes iota_bytes(std::size_t count, std::uint8_t modulo = 255) {
  Bytes bytes(count);
  for (std::size_t i = 0; i < count; ++i) bytes[i] = static_cast<std::uint8_t>(i % modulo);
  return bytes;
}

// A fresh folder per test, so parallel runs and reruns never share files.
class IoTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char pattern[] = "/tmp/cpp_grad_io_test_XXXXXX";
    ASSERT_NE(mkdtemp(pattern), nullptr);
    dir_ = pattern;
  }
  void TearDown() override {
    for (const std::string& path : written_) std::remove(path.c_str());
    rmdir(dir_.c_str());
  }

  std::string write(const std::string& name, const Bytes& bytes) {
    const std::string path = dir_ + "/" + name;
    std::ofstream out(path, std::ios::binary);
    out.write(reinterpret_cast<const char*>(bytes.data()),
              static_cast<std::streamsize>(bytes.size()));
    written_.push_back(path);
    return path;
  }

  void write_mnist(std::uint32_t train, std::uint32_t train_labels, std::uint32_t test,
                   std::uint32_t test_labels) {
    write("train-images-idx3-ubyte", idx_bytes(0x803, {train, 2, 3}, iota_bytes(train * 6)));
    write("train-labels-idx1-ubyte",
          idx_bytes(0x801, {train_labels}, iota_bytes(train_labels, 10)));
    write("t10k-images-idx3-ubyte", idx_bytes(0x803, {test, 2, 3}, iota_bytes(test * 6)));
    write("t10k-labels-idx1-ubyte", idx_bytes(0x801, {test_labels}, iota_bytes(test_labels, 10)));
  }

  std::string dir_;
  std::vector<std::string> written_;
};

// The message of the exception `call` throws, or a failure if none.
template <typename Call>
std::string error_of(Call call) {
  try {
    call();
  } catch (const std::exception& error) {
    return error.what();
  }
  ADD_FAILURE() << "expected an exception";
  return "";
}

// Plain gtest (no gmock): the failure shows the whole message.
::testing::AssertionResult Contains(const std::string& message, const std::string& text) {
  if (message.find(text) != std::string::npos) return ::testing::AssertionSuccess();
  return ::testing::AssertionFailure() << "'" << message << "' lacks '" << text << "'";
}

TEST_F(IoTest, ReadsImages) {
  const Bytes pixels = iota_bytes(2 * 3 * 4);
  const auto images = cpp_grad::read_idx_images(write("img", idx_bytes(0x803, {2, 3, 4}, pixels)));
  EXPECT_EQ(images.count, 2u);
  EXPECT_EQ(images.rows, 3u);
  EXPECT_EQ(images.cols, 4u);
  EXPECT_EQ(images.pixels, pixels);
}

TEST_F(IoTest, ReadsLabels) {
  const Bytes labels = {7, 0, 9, 3};
  EXPECT_EQ(cpp_grad::read_idx_labels(write("lab", idx_bytes(0x801, {4}, labels))), labels);
}

TEST_F(IoTest, ReadsEmptyFiles) {
  EXPECT_TRUE(cpp_grad::read_idx_labels(write("lab", idx_bytes(0x801, {0}, {}))).empty());
  EXPECT_EQ(cpp_grad::read_idx_images(write("img", idx_bytes(0x803, {0, 28, 28}, {}))).count, 0u);
}

TEST_F(IoTest, LoadsMnistFolder) {
  write_mnist(5, 5, 3, 3);
  for (const std::string& dir : {dir_, dir_ + "/"}) {
    const cpp_grad::MnistData data = cpp_grad::load_mnist_idx(dir);
    EXPECT_EQ(data.train_images.count, 5u);
    EXPECT_EQ(data.train_images.pixels.size(), 30u);
    EXPECT_EQ(data.train_labels, (Bytes{0, 1, 2, 3, 4}));
    EXPECT_EQ(data.test_images.count, 3u);
    EXPECT_EQ(data.test_labels.size(), 3u);
  }
}

TEST_F(IoTest, WrongMagicShowsBothInHex) {
  const std::string labels = write("lab", idx_bytes(0x801, {3}, {1, 2, 3}));
  const std::string message = error_of([&] { cpp_grad::read_idx_images(labels); });
  EXPECT_TRUE(Contains(message, "expected 0x00000803, found 0x00000801"));
  EXPECT_TRUE(Contains(message, labels));
}

TEST_F(IoTest, TruncatedDataShowsBothSizes) {
  Bytes bytes = idx_bytes(0x803, {3, 4, 5}, iota_bytes(60));
  bytes.resize(bytes.size() - 7);
  const std::string path = write("img", bytes);
  EXPECT_TRUE(Contains(error_of([&] { cpp_grad::read_idx_images(path); }),
                       "promises 76 bytes, but the file holds 69"));
}

TEST_F(IoTest, TruncatedHeader) {
  const std::string path = write("img", idx_bytes(0x803, {3}, {}));
  EXPECT_TRUE(Contains(error_of([&] { cpp_grad::read_idx_images(path); }),
                       "needs 16 bytes, but the file holds 8"));
  const std::string stub = write("stub", {0, 0});
  EXPECT_TRUE(Contains(error_of([&] { cpp_grad::read_idx_labels(stub); }),
                       "needs 4 bytes, but the file holds 2"));
}

TEST_F(IoTest, HeaderPromisingMoreThan64Bits) {
  const std::string path =
      write("img", idx_bytes(0x803, {0xFFFFFFFF, 0xFFFFFFFF, 0xFFFFFFFF}, {1}));
  EXPECT_TRUE(Contains(error_of([&] { cpp_grad::read_idx_images(path); }),
                       "more than 2^64 bytes, but the file holds 17"));
}

TEST_F(IoTest, TrailingBytes) {
  const std::string path = write("lab", idx_bytes(0x801, {2}, {1, 2, 3, 4}));
  EXPECT_TRUE(Contains(error_of([&] { cpp_grad::read_idx_labels(path); }),
                       "promises 10 bytes, but the file holds 12"));
}

TEST_F(IoTest, MissingFileIsNamed) {
  const std::string path = dir_ + "/no-such-file";
  EXPECT_THROW(cpp_grad::read_idx_labels(path), std::runtime_error);
  EXPECT_TRUE(Contains(error_of([&] { cpp_grad::read_idx_labels(path); }), path));
  EXPECT_TRUE(
      Contains(error_of([&] { cpp_grad::load_mnist_idx(dir_); }), "train-images-idx3-ubyte"));
}

TEST_F(IoTest, FolderIsNotAFile) {
  EXPECT_THROW(cpp_grad::read_idx_labels(dir_), std::runtime_error);
}

TEST_F(IoTest, LabelOutOfRange) {
  const std::string path = write("lab", idx_bytes(0x801, {4}, {1, 9, 10, 200}));
  EXPECT_TRUE(Contains(error_of([&] { cpp_grad::read_idx_labels(path); }),
                       "label 10 at index 2 is outside 0..9"));
  EXPECT_EQ(cpp_grad::read_idx_labels(path, 201).size(), 4u);
}

TEST_F(IoTest, CountMismatch) {
  write_mnist(5, 5, 3, 2);
  EXPECT_TRUE(Contains(error_of([&] { cpp_grad::load_mnist_idx(dir_); }),
                       "3 test images but 2 test labels"));
}

// Test images of another size than the training images are refused: one
// model reads both, and would read past the end of the smaller ones.
TEST_F(IoTest, TestImagesOfAnotherSize) {
  write_mnist(5, 5, 3, 3);
  write("t10k-images-idx3-ubyte", idx_bytes(0x803, {3, 1, 1}, iota_bytes(3)));
  EXPECT_TRUE(Contains(error_of([&] { cpp_grad::load_mnist_idx(dir_); }),
                       "train images are 2 x 3 pixels but test images 1 x 1"));
  write("t10k-images-idx3-ubyte", idx_bytes(0x803, {3, 3, 2}, iota_bytes(18)));
  EXPECT_TRUE(Contains(error_of([&] { cpp_grad::load_mnist_idx(dir_); }),
                       "train images are 2 x 3 pixels but test images 3 x 2"));
}

}  // namespace
