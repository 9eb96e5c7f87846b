#pragma once
// ldns/common.h defines the macros bool/false/true unless stdbool.h came
// first; in C++ those macros break the standard library (e.g. <optional>).
#include <stdbool.h>  // NOLINT(modernize-deprecated-headers): sets __bool_true_false_are_defined

#include <ldns/ldns.h>
