# Cairn -- build, test, demo.  `make` builds x86-64 libraries in build/;
# `make M32=1` builds 32-bit ones in build32/.
CC      ?= gcc
M32     ?=
ifeq ($(M32),1)
  BUILD ?= build32
  ARCH  := -m32 -Wno-psabi
else
  BUILD ?= build
  ARCH  :=
endif
CFLAGS  ?= -O2 -g
WARN    := -Wall -Wextra -Werror
# Unwind tables: C++'s std::bad_alloc passes through operator new's frames.
LIBFLAGS := -std=gnu11 $(ARCH) $(WARN) -fPIC -fvisibility=hidden -fno-plt \
            -ftls-model=initial-exec -fno-tree-slp-vectorize -fno-builtin-malloc -fno-stack-protector \
            -fasynchronous-unwind-tables -Iinclude $(CFLAGS)
SRCS    := $(wildcard src/*.c)
OBJS    := $(SRCS:src/%.c=$(BUILD)/obj/%.o)
HDRS    := $(wildcard include/*.h include/cairn/*.h)

all: $(BUILD)/libcairn.so $(BUILD)/libcairn.a

$(BUILD)/obj/%.o: src/%.c $(HDRS)
	@mkdir -p $(dir $@)
	$(CC) $(LIBFLAGS) -c $< -o $@

# The statistics and report code is cold: made for size, it keeps 10 KiB
# less of the library resident in every process.
$(BUILD)/obj/stats.o $(BUILD)/obj/output.o $(BUILD)/obj/options.o: LIBFLAGS += -Os

$(BUILD)/libcairn.so: $(OBJS)
	$(CC) $(ARCH) -shared -Wl,-soname,libcairn.so -Wl,-z,now -o $@ $(OBJS) -lpthread -ldl

$(BUILD)/libcairn.a: $(OBJS)
	rm -f $@ && ar rcs $@ $(OBJS)

# Run the whole test suite, both widths (the 32-bit half under qemu-i386).
test: all
	$(MAKE) M32=1 all
	tests/run.sh

# The same library without free's misuse checks, to measure their cost.
nochecks:
	$(MAKE) BUILD=build-nochecks CFLAGS="$(CFLAGS) -DCN_CHECKS=0" all

demo: all
	scripts/demo.sh

# Benchmarks against the other allocators (bench/README.md).
bench: all
	bench/run
bench-quick: all
	bench/run --quick
bench-core: all
	bench/core.sh

clean:
	rm -rf build build32 build-nochecks

.PHONY: all test demo clean nochecks bench bench-quick bench-core

# Further rules (installation, ...) live in mk/.
-include $(wildcard mk/*.mk)
