# Two set-up commands on a fresh Debian 12 machine: `make run` and `make test`.
# Plain `make` builds build/strongroom and build/libstrongroom-pkcs11.so (the PKCS#11 library).
BUILD      ?= build
TEST_BUILD ?= build-test
JOBS       ?= $(shell nproc 2>/dev/null || echo 2)

PREFIX     ?= /usr/local
DESTDIR    ?=

MAN_GROUPS = module root new-world world generatekey kmfile-dump aclprint pubkey sign verifykeypackage toolset \
	keytransfer serve seal region vault token app idp role authority audit backup restore key pkcs11

FUZZ_BUILD   ?= build-fuzz
FUZZ_TARGETS := $(basename $(notdir $(wildcard fuzz/fuzz_*.c)))
FUZZ_SECONDS ?= 60

.PHONY: all deps build run demo test fuzz clean install install-files

all: build

deps:
	@./scripts/bootstrap.sh

build: deps
	@cmake -S . -B $(BUILD) -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
	@cmake --build $(BUILD) -j $(JOBS)

run: build
	@./scripts/run.sh $(BUILD)/strongroom

demo: build
	@./scripts/hsm-demo.sh $(BUILD)/strongroom

test: deps
	@cmake -S . -B $(TEST_BUILD) -DCMAKE_BUILD_TYPE=Debug -DSR_SANITIZE=ON >/dev/null
	@./scripts/tree-check.sh save $(TEST_BUILD)/tree-before
	@cmake --build $(TEST_BUILD) -j $(JOBS)
	@# one test more than cores: several tests spend most of their time waiting (deadlines, PostgreSQL, node)
	@cd $(TEST_BUILD) && ctest --output-on-failure -j $$(( $(JOBS) + 1 ))
	@./scripts/analyze.sh $(TEST_BUILD)-analyze
	@./scripts/tree-check.sh compare $(TEST_BUILD)/tree-before

# Coverage-guided fuzzing: every harness of fuzz/ under libFuzzer (clang, ASan+UBSan) for FUZZ_SECONDS each,
# its corpus in $(FUZZ_BUILD)/corpus/NAME seeded by the harness itself; a crash stops with its reproducer.
fuzz: deps
	@CC=clang cmake -S . -B $(FUZZ_BUILD) -DCMAKE_BUILD_TYPE=Debug -DSR_SANITIZE=ON -DSR_LIBFUZZER=ON >/dev/null
	@cmake --build $(FUZZ_BUILD) -j $(JOBS) --target $(FUZZ_TARGETS)
	@./scripts/fuzz.sh $(FUZZ_BUILD) $(FUZZ_SECONDS)

# The binary, the PKCS#11 library, its man page and a systemd unit with a hardened sandbox (dist/strongroom.service.in).
install: build install-files

install-files:
	install -d $(DESTDIR)$(PREFIX)/bin $(DESTDIR)$(PREFIX)/share/man/man1 $(DESTDIR)$(PREFIX)/lib/systemd/system
	install -m 0755 $(BUILD)/strongroom $(DESTDIR)$(PREFIX)/bin/strongroom
	install -m 0755 $(BUILD)/libstrongroom-pkcs11.so $(DESTDIR)$(PREFIX)/lib/libstrongroom-pkcs11.so
	install -m 0644 dist/strongroom.1 $(DESTDIR)$(PREFIX)/share/man/man1/strongroom.1
	sed 's|@BINDIR@|$(PREFIX)/bin|g' dist/strongroom.service.in > $(DESTDIR)$(PREFIX)/lib/systemd/system/strongroom.service
	chmod 0644 $(DESTDIR)$(PREFIX)/lib/systemd/system/strongroom.service
	# A manual page per command group and the bash completion, written by the binary from its command table.
	for c in $(MAN_GROUPS); do \
	    $(BUILD)/strongroom help --man $$c > $(DESTDIR)$(PREFIX)/share/man/man1/strongroom-$$c.1 || exit 1; \
	done
	install -d $(DESTDIR)$(PREFIX)/share/bash-completion/completions
	$(BUILD)/strongroom completion bash > $(DESTDIR)$(PREFIX)/share/bash-completion/completions/strongroom

clean:
	rm -rf $(BUILD) $(TEST_BUILD)
