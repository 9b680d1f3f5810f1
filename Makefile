# Thin wrapper over meson/ninja. See README.md.
BUILD      ?= build
ASAN_BUILD ?= build-asan
FUZZ_BUILD ?= build-fuzz
MESON_OPTS ?= -Dwerror=true
export VESSEL_CACHE ?= $(or $(XDG_CACHE_HOME),$(HOME)/.cache)/vessel

.PHONY: all deps build guest run test test-fast test-asan bench compare fuzz clean

all: build

deps:
	@bash scripts/deps.sh

$(BUILD)/build.ninja:
	meson setup $(BUILD) $(MESON_OPTS)

build: deps $(BUILD)/build.ninja
	ninja -C $(BUILD)

# The default guests (riscv64 kernel + busybox initramfs), cached in $(VESSEL_CACHE).
# A cached guest is used without taking the build lock (--print reads the
# cache only), so one build of other inputs does not hold up every run.
GUEST_CACHED = bash guest/build.sh --print $(1) >/dev/null 2>&1
guest: deps
	@if $(call GUEST_CACHED,riscv64) && $(call GUEST_CACHED,x86_64); then \
	    echo "guest: riscv64 and x86_64 cached"; else bash guest/build.sh; fi

# Only what booting needs: vessel and the riscv64 default guest.
run: build
	@$(call GUEST_CACHED,riscv64) || bash guest/build.sh --only riscv64
	./$(BUILD)/vessel run

# Everything (guests built first, so the tests that boot them run): the
# release build's full suite, then the unit tests and the
# fast integration tests again under AddressSanitizer + UBSan.
test: build guest
	@bash scripts/test-all.sh $(BUILD) $(ASAN_BUILD)

# Only the release build's suite (FILTER=substring selects tests).
test-fast: build
	@bash tests/run.sh $(BUILD) $(FILTER)

bench: build guest
	@bash bench/run.sh $(BUILD)

# The comparison's full form (bench/compare; bench runs its short form),
# written to OUT (default $(BUILD)/compare).
compare: build guest
	@bash bench/compare/run.sh --full $(or $(OUT),$(BUILD)/compare)

fuzz: deps
	@bash fuzz/run.sh $(FUZZ_BUILD) $(or $(FUZZ_SECONDS),60)

clean:
	rm -rf $(BUILD) $(ASAN_BUILD) $(FUZZ_BUILD)
