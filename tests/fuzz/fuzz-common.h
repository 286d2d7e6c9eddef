/* Shared by the libFuzzer harnesses in tests/fuzz: each harness defines
 * LLVMFuzzerTestOneInput; this header gives the GLib setup (criticals abort,
 * so a g_return_if_fail a decoder trips is a finding) and small helpers. */
#pragma once

#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <glib.h>

int LLVMFuzzerInitialize (int *argc, char ***argv);
int LLVMFuzzerTestOneInput (const uint8_t *data, size_t size);

static inline void
vc_fuzz_glib_setup (void)
{
  g_log_set_always_fatal (G_LOG_LEVEL_CRITICAL | G_LOG_LEVEL_ERROR);
  g_setenv ("G_SLICE", "always-malloc", TRUE);
}

/* A NUL-terminated copy of the input, as the text decoders receive it. */
static inline char *
vc_fuzz_text (const uint8_t *data, size_t size)
{
  char *text = g_malloc (size + 1);
  memcpy (text, data, size);
  text[size] = '\0';
  return text;
}
