# Included by every plugins/*/Makefile.am: a plugin is a libtool module that
# sees only the public headers in include/.
plugindir = @plugindir@
PLUGIN_CFLAGS = -I$(top_srcdir)/include $(GLIB_CFLAGS) $(WARN_CFLAGS)
PLUGIN_LDFLAGS = -module -avoid-version -shared -no-undefined -export-symbols-regex '^vc_plugin_descriptor$$'
