# Included by every tests/*/Makefile.am. Test programs speak TAP: GTest
# programs get --tap, shell tests print TAP themselves.
TEST_EXTENSIONS = .sh
LOG_DRIVER = env AM_TAP_AWK='$(AWK)' $(SHELL) $(top_srcdir)/build-aux/tap-driver.sh
AM_LOG_FLAGS = --tap -k
SH_LOG_DRIVER = $(LOG_DRIVER)
SH_LOG_COMPILER = $(SHELL)
AM_TESTS_ENVIRONMENT = \
	export G_TEST_SRCDIR='$(abs_srcdir)'; \
	export G_TEST_BUILDDIR='$(abs_builddir)'; \
	export VCRUN_TOP_SRCDIR='$(abs_top_srcdir)'; \
	export VCRUN_TOP_BUILDDIR='$(abs_top_builddir)'; \
	export G_DEBUG=gc-friendly; \
	export MALLOC_PERTURB_=165;
TEST_CFLAGS = -I$(top_srcdir)/include -I$(top_srcdir)/core $(GLIB_CFLAGS) $(JSON_GLIB_CFLAGS) $(WARN_CFLAGS)
