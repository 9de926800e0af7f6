/*
 * fuzz_check: the invariant check the fuzz targets share. A broken
 * invariant aborts, so libFuzzer keeps the input that broke it.
 */
#ifndef PGSIFT_FUZZ_CHECK_H
#define PGSIFT_FUZZ_CHECK_H

#include <stdio.h>
#include <stdlib.h>

#define CHECK(cond, what)                                                            \
	do {                                                                         \
		if (!(cond)) {                                                       \
			fprintf(stderr, "invariant broken: %s (%s:%d)\n", what, __FILE__, \
				__LINE__);                                           \
			abort();                                                     \
		}                                                                    \
	} while (0)

#endif
