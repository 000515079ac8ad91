# stress.mk -- the long tests (included by the top Makefile).
#
#   make stress [STRESS_SECONDS=300]
#       tests/stress on $(BUILD) (build, or build32 with M32=1): the stress
#       program preloaded for STRESS_SECONDS, then linked with libcairn.a
#       for a fifth of that.  Fails if any run fails.
#   make test-long [LONG_SECONDS=120] [LONG32_SECONDS=60] [TSAN_SECONDS=60]
#       the stress on build/ preloaded for LONG_SECONDS and static for a
#       quarter of that, on build32/ under qemu-i386 (preloaded, 4 threads)
#       for LONG32_SECONDS, and the ThreadSanitizer build (tests/tsan) for
#       TSAN_SECONDS; ends with "N passed, N failed" (log in
#       build/tests/test-long.log).
#
# `make test` runs the same scripts briefly (tests/run.sh).

STRESS_SECONDS ?= 300
LONG_SECONDS   ?= 120
LONG32_SECONDS ?= 60
TSAN_SECONDS   ?= 60
STRESS_LIB32   ?= build32

stress: all
	@mkdir -p $(BUILD)/tests
	@STRESS_STATIC_SECONDS=$$(( ($(STRESS_SECONDS) + 4) / 5 )) \
	    tests/stress/run.sh $(BUILD) $(STRESS_SECONDS) | tee $(BUILD)/tests/stress.log; \
	! grep -q '^FAIL ' $(BUILD)/tests/stress.log

test-long: all
	$(MAKE) M32=1 BUILD=$(STRESS_LIB32) all
	@log=$(BUILD)/tests/test-long.log; mkdir -p $(BUILD)/tests; : > $$log; \
	start=$$(date +%s); \
	STRESS_STATIC_SECONDS=$$(( ($(LONG_SECONDS) + 3) / 4 )) \
	    tests/stress/run.sh $(BUILD) $(LONG_SECONDS) | tee -a $$log; \
	STRESS_STATIC_SECONDS=0 tests/stress/run.sh $(STRESS_LIB32) $(LONG32_SECONDS) | tee -a $$log; \
	tests/tsan/run.sh $(BUILD) $(TSAN_SECONDS) | tee -a $$log; \
	p=$$(grep -c '^PASS ' $$log); f=$$(grep -c '^FAIL ' $$log); \
	echo; [ "$$f" -eq 0 ] || { echo "Failed:"; grep '^FAIL ' $$log | sed 's/^FAIL /  /; s/:.*//'; }; \
	echo "(took $$(( $$(date +%s) - start )) s)"; \
	echo "$$p passed, $$f failed"; [ "$$f" -eq 0 ]

.PHONY: stress test-long
