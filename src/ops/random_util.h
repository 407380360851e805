// Counter-based randomness for the reordering ops (shuffle, global_shuffle, random,
// sample_from_datasets): every random number is a pure function of (key, counter), so an
// iterator's RNG state is a counter and a restore is an assignment, never a replay.
//
//   uint64_t key = MixKey(seed, epoch);
//   uint64_t r = CounterHash(key, step);            // 64 random bits for this step
//   int64_t j = UniformIndex(r, n);                 // uniform in [0, n)
//   IndexPermutation perm(n, key);                  // a bijection of [0, n), O(1) memory
//   int64_t shuffled = perm(i);
//
// Also the epoch counter shared by the iterators of a reshuffling dataset (EpochCounter), and
// the seed and epochs of a reshuffling dataset together (ShuffleSeed).
#ifndef INPUTPIPE_OPS_RANDOM_UTIL_H_
#define INPUTPIPE_OPS_RANDOM_UTIL_H_

#include <atomic>
#include <cstdint>
#include <optional>
#include <random>
#include <string>
#include <string_view>

#include "inputpipe/errors.h"
#include "inputpipe/state.h"
#include "state/restore_changes.h"

namespace inputpipe {

// SplitMix64's finalizer: a bijective avalanche mix of 64 bits.
inline uint64_t Mix64(uint64_t z) {
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
  return z ^ (z >> 31);
}

// Two values into one key (order matters).
inline uint64_t MixKey(uint64_t a, uint64_t b) {
  return Mix64(Mix64(a + 0x9e3779b97f4a7c15ULL) ^
               (b * 0xd1b54a32d192ed03ULL + 0x632be59bd9b4e019ULL));
}

// The counter-th output of the stream `key`: SplitMix64 evaluated at a counter, so any
// position of the stream is computed directly.
inline uint64_t CounterHash(uint64_t key, uint64_t counter) {
  return Mix64(key + (counter + 1) * 0x9e3779b97f4a7c15ULL);
}

// Uniform in [0, n) from 64 random bits (Lemire's multiply-high; bias below 2^-40 for the n
// the ops use). REQUIRES: n > 0.
inline int64_t UniformIndex(uint64_t bits, int64_t n) {
  return static_cast<int64_t>((static_cast<unsigned __int128>(bits) * static_cast<uint64_t>(n)) >>
                              64);
}

// Uniform double in [0, 1) from the top 53 bits.
inline double UniformDouble(uint64_t bits) { return static_cast<double>(bits >> 11) * 0x1.0p-53; }

// A seed for an op created without one: from the OS entropy source.
inline int64_t RandomSeed() {
  std::random_device device;
  return static_cast<int64_t>((static_cast<uint64_t>(device()) << 32) ^ device());
}

// The seed of a random op: the user's, or one drawn at creation. A drawn seed is saved in the
// state and restored from it (a state restores in another process), and is not part of the
// fingerprint, which says "seed=random".
struct OpSeed {
  bool seeded;
  int64_t value;

  static OpSeed From(std::optional<int64_t> seed) {
    return seed.has_value() ? OpSeed{true, *seed} : OpSeed{false, RandomSeed()};
  }
  std::string Param() const {
    return "seed=" + (seeded ? std::to_string(value) : std::string("random"));
  }
  // The saved seed. Another seed than the pipeline's: under allow_changes a
  // PipelineMismatchError naming both, else (the fingerprint matched) a corrupt state.
  int64_t Restore(const StateReader& r, std::string_view key, std::string_view op) const {
    int64_t saved = r.ReadInt(key);
    if (seeded && saved != value) {
      if (RestoreAllowsChanges()) {
        throw ParameterChangeError(std::string(op) + "(seed=" + std::to_string(value) + ")",
                                   "seed", std::to_string(saved),
                                   "a seeded op's state is a position in its seed's order");
      }
      throw DataLossError("corrupt state: " + std::string(op) + " seed " + std::to_string(saved) +
                          " where the pipeline has seed=" + std::to_string(value));
    }
    return saved;
  }
};

// A keyed pseudo-random bijection of [0, n): a balanced Feistel network on the smallest even
// number of bits covering n, with cycle walking (values >= n are encrypted again until they
// fall in range; the domain is below 4n, so about 4 rounds of walking at worst on average).
// O(1) memory, O(1) expected time per index.
class IndexPermutation {
 public:
  IndexPermutation(int64_t n, uint64_t key) : n_(n), key_(key) {
    int bits = 2;
    while (bits < 62 && (int64_t{1} << bits) < n) bits += 2;
    half_bits_ = bits / 2;
    half_mask_ = (uint64_t{1} << half_bits_) - 1;
  }
  // REQUIRES: 0 <= index < n.
  int64_t operator()(int64_t index) const {
    uint64_t x = static_cast<uint64_t>(index);
    do {
      x = Encrypt(x);
    } while (x >= static_cast<uint64_t>(n_));
    return static_cast<int64_t>(x);
  }

 private:
  static constexpr int kRounds = 8;
  uint64_t Encrypt(uint64_t x) const {
    uint64_t left = x >> half_bits_, right = x & half_mask_;
    for (int round = 0; round < kRounds; ++round) {
      uint64_t f = Mix64(right ^ MixKey(key_, static_cast<uint64_t>(round))) & half_mask_;
      uint64_t next_right = left ^ f;
      left = right;
      right = next_right;
    }
    return (left << half_bits_) | right;
  }

  int64_t n_;
  uint64_t key_;
  int half_bits_;
  uint64_t half_mask_;
};

// The iteration counter of a dataset whose iterators reshuffle (tf.data's
// reshuffle_each_iteration): the k-th iterator made from the dataset uses epoch k. A restored
// iterator takes its epoch from the state and moves the counter past it, so the iterators made
// after it (the next epochs under repeat) continue the sequence the saving process would have
// produced.
class EpochCounter {
 public:
  int64_t Next() { return next_.fetch_add(1); }
  // Reads a restored iterator's epoch (always 0 without reshuffling) and sets the counter just
  // past it, up or down: the epochs after it (a repeat's next iterators) are then the saved
  // run's, however many iterators this dataset made before in this process.
  int64_t Restore(const StateReader& r, std::string_view key, bool reshuffle) {
    return Set(r.ReadIntInRange(key, 0, reshuffle ? INT64_MAX - 1 : 0), reshuffle);
  }
  // As Restore, for a key written only when not 0: a state without it is epoch 0.
  int64_t RestoreOrZero(const StateReader& r, std::string_view key, bool reshuffle) {
    return Set(r.ReadIntInRangeOr(key, 0, reshuffle ? INT64_MAX - 1 : 0, 0), reshuffle);
  }

 private:
  int64_t Set(int64_t epoch, bool reshuffle) {
    if (reshuffle) next_.store(epoch + 1);
    return epoch;
  }

  std::atomic<int64_t> next_{0};
};

// An iterator's seed and epoch, which key its random order (shuffle, global_shuffle).
struct SeedEpoch {
  int64_t seed;
  int64_t epoch;

  uint64_t Key() const { return MixKey(static_cast<uint64_t>(seed), static_cast<uint64_t>(epoch)); }
};

// The seed and epochs of a reshuffling dataset (shuffle, global_shuffle): its fingerprint
// part, each new iterator's SeedEpoch, and their state under the keys "seed" and "epoch".
class ShuffleSeed {
 public:
  ShuffleSeed(std::optional<int64_t> seed, bool reshuffle)
      : seed(OpSeed::From(seed)), reshuffle(reshuffle) {}

  // "seed=7, reshuffle_each_iteration=true".
  std::string Param() const {
    return seed.Param() + ", reshuffle_each_iteration=" + (reshuffle ? "true" : "false");
  }
  // A new iterator's: with reshuffling the k-th iterator made has epoch k, else every one 0.
  SeedEpoch Start() const { return {seed.value, reshuffle ? epochs_.Next() : 0}; }
  void Save(StateWriter& w, const SeedEpoch& s) const {
    w.WriteInt(kSeed, s.seed);
    w.WriteInt(kEpoch, s.epoch);
  }
  // DataLossError naming `op` for a seed other than the dataset's.
  SeedEpoch Restore(const StateReader& r, std::string_view op) const {
    int64_t saved_seed = seed.Restore(r, kSeed, op);
    return {saved_seed, epochs_.Restore(r, kEpoch, reshuffle)};
  }

  const OpSeed seed;
  const bool reshuffle;

 private:
  static constexpr char kSeed[] = "seed";
  static constexpr char kEpoch[] = "epoch";

  mutable EpochCounter epochs_;
};

}  // namespace inputpipe

#endif  // INPUTPIPE_OPS_RANDOM_UTIL_H_
