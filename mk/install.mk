# install.mk -- installation, and the library's other names (included by
# the top Makefile).
#
#   make install   [PREFIX=/usr/local] [DESTDIR=stage] [LIBDIR=...] ...
#   make uninstall (same variables)
#
# Installs lib/libcairn.so.1 (soname libcairn.so.1) with the link
# lib/libcairn.so, lib/libcairn.a, include/cairn.h, lib/pkgconfig/cairn.pc,
# share/man/man3/cairn.3 and bin/cairn-run.  `make M32=1 install
# LIBDIR=...` installs the 32-bit library instead.
#
# `make` also leaves in $(BUILD)/: libcairn.so.1 (the library with its
# versioned soname, as installed) and libmemory.so, libmymalloc.so,
# libmalloc.so -- links to libcairn.so, so `gcc main.c -L build -lmemory`
# links a program that calls allocate / deallocate (or malloc / free).

PREFIX      ?= /usr/local
DESTDIR     ?=
BINDIR      ?= $(PREFIX)/bin
LIBDIR      ?= $(PREFIX)/lib
INCLUDEDIR  ?= $(PREFIX)/include
MANDIR      ?= $(PREFIX)/share/man
PKGCONFIGDIR ?= $(LIBDIR)/pkgconfig
# Run after a real (not staged) install by root, so the loader finds the
# library in a standard directory; LDCONFIG=true skips it.
LDCONFIG    ?= ldconfig

CAIRN_SONAME   := libcairn.so.1
CAIRN_VERSION  := $(shell sed -n 's/^\#define CAIRN_VERSION_\(MAJOR\|MINOR\|PATCH\) *//p' include/cairn.h | paste -sd.)
CAIRN_ALIASES  := libmemory.so libmymalloc.so libmalloc.so

all: $(BUILD)/$(CAIRN_SONAME) $(CAIRN_ALIASES:%=$(BUILD)/%)

$(BUILD)/$(CAIRN_SONAME): $(OBJS)
	$(CC) $(ARCH) -shared -Wl,-soname,$(CAIRN_SONAME) -Wl,-z,now -o $@ $(OBJS) -lpthread -ldl

$(CAIRN_ALIASES:%=$(BUILD)/%): $(BUILD)/libcairn.so
	ln -sf libcairn.so $@

$(BUILD)/cairn.pc: mk/cairn.pc.in include/cairn.h mk/install.mk
	@mkdir -p $(dir $@)
	sed -e 's|@PREFIX@|$(PREFIX)|g' -e 's|@LIBDIR@|$(patsubst $(PREFIX)/%,$${prefix}/%,$(LIBDIR))|g' \
	    -e 's|@INCLUDEDIR@|$(patsubst $(PREFIX)/%,$${prefix}/%,$(INCLUDEDIR))|g' \
	    -e 's|@VERSION@|$(CAIRN_VERSION)|g' $< > $@

# Always remade: PREFIX and LIBDIR may differ from the last install.
.PHONY: $(BUILD)/cairn.pc

install: all $(BUILD)/cairn.pc
	install -d $(DESTDIR)$(LIBDIR) $(DESTDIR)$(PKGCONFIGDIR) $(DESTDIR)$(INCLUDEDIR) \
	    $(DESTDIR)$(BINDIR) $(DESTDIR)$(MANDIR)/man3
	install -m 755 $(BUILD)/$(CAIRN_SONAME) $(DESTDIR)$(LIBDIR)/$(CAIRN_SONAME)
	ln -sf $(CAIRN_SONAME) $(DESTDIR)$(LIBDIR)/libcairn.so
	install -m 644 $(BUILD)/libcairn.a $(DESTDIR)$(LIBDIR)/libcairn.a
	install -m 644 include/cairn.h $(DESTDIR)$(INCLUDEDIR)/cairn.h
	install -m 644 $(BUILD)/cairn.pc $(DESTDIR)$(PKGCONFIGDIR)/cairn.pc
	install -m 644 man/cairn.3 $(DESTDIR)$(MANDIR)/man3/cairn.3
	sed 's|^installed_lib=.*|installed_lib=$(LIBDIR)/$(CAIRN_SONAME)|' scripts/cairn-run \
	    > $(DESTDIR)$(BINDIR)/cairn-run
	chmod 755 $(DESTDIR)$(BINDIR)/cairn-run
	@if [ -z "$(DESTDIR)" ] && [ "$$(id -u)" = 0 ]; then $(LDCONFIG) 2>/dev/null || true; fi

uninstall:
	rm -f $(DESTDIR)$(LIBDIR)/$(CAIRN_SONAME) $(DESTDIR)$(LIBDIR)/libcairn.so \
	    $(DESTDIR)$(LIBDIR)/libcairn.a $(DESTDIR)$(INCLUDEDIR)/cairn.h \
	    $(DESTDIR)$(PKGCONFIGDIR)/cairn.pc $(DESTDIR)$(MANDIR)/man3/cairn.3 \
	    $(DESTDIR)$(BINDIR)/cairn-run

.PHONY: install uninstall
