# Included by every tests/*/Makefile.am. Test programs speak TAP: GTest
# programs are run through tests/tap-test (adds --tap -k, and the optional
# $VC_TEST_WRAPPER such as valgrind); .sh tests print TAP themselves.
TEST_EXTENSIONS = .sh
LOG_DRIVER = env AM_TAP_AWK='$(AWK)' $(SHELL) $(top_srcdir)/build-aux/tap-driver.sh
LOG_COMPILER = $(SHELL) $(top_srcdir)/tests/tap-test
SH_LOG_DRIVER = $(LOG_DRIVER)
SH_LOG_COMPILER = $(SHELL)
AM_TESTS_ENVIRONMENT = \
	export G_TEST_SRCDIR='$(abs_srcdir)'; \
	export G_TEST_BUILDDIR='$(abs_builddir)'; \
	export VCRUN_TOP_SRCDIR='$(abs_top_srcdir)'; \
	export VCRUN_TOP_BUILDDIR='$(abs_top_builddir)'; \
	export QEMU_SYSTEM='$(QEMU_SYSTEM)'; \
	export VIRTIOFSD='$(VIRTIOFSD)'; \
	export VC_TEST_WRAPPER='$(VC_TEST_WRAPPER)'; \
	export LIBTOOL='$(LIBTOOL)'; \
	export G_DEBUG=gc-friendly; \
	export G_SLICE=always-malloc; \
	export MALLOC_PERTURB_=165;
TEST_CFLAGS = -I$(top_srcdir)/include -I$(top_srcdir)/core $(GLIB_CFLAGS) $(JSON_GLIB_CFLAGS) $(WARN_CFLAGS)
