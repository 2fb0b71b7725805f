// Turn runtime flags into template constants:
//   BOOL_SWITCH(args.delay, kDelay, [&] { run<kDelay>(args); });
#pragma once

#define BOOL_SWITCH(COND, NAME, ...)      \
  [&] {                                   \
    if (COND) {                           \
      constexpr static bool NAME = true;  \
      return __VA_ARGS__();               \
    } else {                              \
      constexpr static bool NAME = false; \
      return __VA_ARGS__();               \
    }                                     \
  }()

#define RESET_SWITCH(MODE, NAME, ...)                                 \
  [&] {                                                               \
    if ((MODE) == snnkern::kResetSubtract) {                          \
      constexpr static int NAME = snnkern::kResetSubtract;            \
      return __VA_ARGS__();                                           \
    } else if ((MODE) == snnkern::kResetZero) {                       \
      constexpr static int NAME = snnkern::kResetZero;                \
      return __VA_ARGS__();                                           \
    } else {                                                          \
      constexpr static int NAME = snnkern::kResetNone;                \
      return __VA_ARGS__();                                           \
    }                                                                 \
  }()

#define SURROGATE_SWITCH(ID, NAME, ...)                     \
  [&] {                                                     \
    if ((ID) == snnkern::kFastSigmoid) {                    \
      constexpr static int NAME = snnkern::kFastSigmoid;    \
      return __VA_ARGS__();                                 \
    } else if ((ID) == snnkern::kSigmoid) {                 \
      constexpr static int NAME = snnkern::kSigmoid;        \
      return __VA_ARGS__();                                 \
    } else if ((ID) == snnkern::kArctan) {                  \
      constexpr static int NAME = snnkern::kArctan;         \
      return __VA_ARGS__();                                 \
    } else {                                                \
      constexpr static int NAME = snnkern::kTriangle;       \
      return __VA_ARGS__();                                 \
    }                                                       \
  }()
