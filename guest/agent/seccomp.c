/* linux.seccomp of the OCI spec, through libseccomp. The filter is built in
 * the agent (errors are ordinary request errors) and loaded in the child. */
#include "config.h"

#include "agent.h"

#include <ctype.h>
#include <errno.h>
#include <seccomp.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

static bool
parse_action (const char *name, bool has_errno, uint32_t errno_ret, uint32_t *action, AgentError *err)
{
  if (!name || !*name)
    return agent_error (err, VC_TTRPC_CODE_INVALID_ARGUMENT, "seccomp: empty action");
  if (strcmp (name, "SCMP_ACT_ALLOW") == 0)
    *action = SCMP_ACT_ALLOW;
  else if (strcmp (name, "SCMP_ACT_ERRNO") == 0)
    *action = SCMP_ACT_ERRNO (has_errno ? errno_ret : EPERM);
  else if (strcmp (name, "SCMP_ACT_KILL") == 0 || strcmp (name, "SCMP_ACT_KILL_THREAD") == 0)
    *action = SCMP_ACT_KILL_THREAD;
  else if (strcmp (name, "SCMP_ACT_KILL_PROCESS") == 0)
    *action = SCMP_ACT_KILL_PROCESS;
  else if (strcmp (name, "SCMP_ACT_TRAP") == 0)
    *action = SCMP_ACT_TRAP;
  else if (strcmp (name, "SCMP_ACT_TRACE") == 0)
    *action = SCMP_ACT_TRACE (has_errno ? errno_ret : EPERM);
  else if (strcmp (name, "SCMP_ACT_LOG") == 0)
    *action = SCMP_ACT_LOG;
  else
    return agent_error (err, VC_TTRPC_CODE_INVALID_ARGUMENT, "seccomp: unknown action '%s'", name);
  return true;
}

static bool
parse_op (const char *name, enum scmp_compare *op, AgentError *err)
{
  static const struct { const char *name; enum scmp_compare op; } ops[] = {
    { "SCMP_CMP_NE", SCMP_CMP_NE }, { "SCMP_CMP_LT", SCMP_CMP_LT }, { "SCMP_CMP_LE", SCMP_CMP_LE },
    { "SCMP_CMP_EQ", SCMP_CMP_EQ }, { "SCMP_CMP_GE", SCMP_CMP_GE }, { "SCMP_CMP_GT", SCMP_CMP_GT },
    { "SCMP_CMP_MASKED_EQ", SCMP_CMP_MASKED_EQ },
  };
  for (size_t i = 0; i < sizeof ops / sizeof ops[0]; i++)
    if (name && strcmp (name, ops[i].name) == 0)
      {
        *op = ops[i].op;
        return true;
      }
  return agent_error (err, VC_TTRPC_CODE_INVALID_ARGUMENT, "seccomp: unknown operator '%s'", name ? name : "");
}

/* "SCMP_ARCH_X86_64" -> the libseccomp token for "x86_64". */
static uint32_t
parse_arch (const char *name)
{
  char buf[64];
  const char *p = name;
  if (strncmp (p, "SCMP_ARCH_", 10) == 0)
    p += 10;
  size_t i;
  for (i = 0; p[i] && i + 1 < sizeof buf; i++)
    buf[i] = (char) tolower ((unsigned char) p[i]);
  buf[i] = '\0';
  if (strcmp (buf, "x86") == 0)
    return SCMP_ARCH_X86;
  return seccomp_arch_resolve_name (buf);
}

/* libseccomp refuses two comparisons of one argument in a rule (EINVAL). As
 * runc does, a rule with several conditions on the same argument index becomes
 * one rule per condition (any of them matching triggers the action); a rule
 * whose conditions are on distinct arguments stays one rule (all must match). */
static bool
add_rules (scmp_filter_ctx ctx, uint32_t action, const char *name, int nr, const struct scmp_arg_cmp *cmps,
           size_t n, AgentError *err)
{
  bool repeated = false;
  for (size_t a = 0; a < n && !repeated; a++)
    for (size_t b = a + 1; b < n; b++)
      if (cmps[a].arg == cmps[b].arg)
        repeated = true;
  int r;
  if (!repeated)
    {
      r = seccomp_rule_add_array (ctx, action, nr, (unsigned) n, cmps);
      if (r < 0)
        return agent_error_errno (err, VC_TTRPC_CODE_INVALID_ARGUMENT, -r, "seccomp: rule for %s", name);
      return true;
    }
  for (size_t a = 0; a < n; a++)
    {
      r = seccomp_rule_add_array (ctx, action, nr, 1, &cmps[a]);
      if (r < 0)
        return agent_error_errno (err, VC_TTRPC_CODE_INVALID_ARGUMENT, -r, "seccomp: rule for %s", name);
    }
  return true;
}

bool
seccomp_build (const Grpc__LinuxSeccomp *spec, void **out, AgentError *err)
{
  *out = NULL;
  if (!spec || !spec->defaultaction || !*spec->defaultaction)
    return true;

  uint32_t default_action;
  if (!parse_action (spec->defaultaction, false, 0, &default_action, err))
    return false;
  scmp_filter_ctx ctx = seccomp_init (default_action);
  if (!ctx)
    return agent_error (err, VC_TTRPC_CODE_INTERNAL, "seccomp_init failed");
  /* libseccomp sets no_new_privs when it loads a filter: the process's
   * noNewPrivileges is the spec's to decide (privileges_apply loads the
   * filter while CAP_SYS_ADMIN is still held when it is false), as runc. */
  int nnp = seccomp_attr_set (ctx, SCMP_FLTATR_CTL_NNP, 0);
  if (nnp < 0)
    {
      seccomp_release (ctx);
      return agent_error_errno (err, VC_TTRPC_CODE_INTERNAL, -nnp, "seccomp: cannot clear the no_new_privs attribute");
    }

  for (size_t i = 0; i < spec->n_architectures; i++)
    {
      uint32_t arch = parse_arch (spec->architectures[i]);
      if (arch == 0)
        {
          seccomp_release (ctx);
          return agent_error (err, VC_TTRPC_CODE_INVALID_ARGUMENT, "seccomp: unknown architecture '%s'",
                              spec->architectures[i]);
        }
      int r = seccomp_arch_add (ctx, arch);
      if (r < 0 && r != -EEXIST)
        {
          seccomp_release (ctx);
          return agent_error_errno (err, VC_TTRPC_CODE_INTERNAL, -r, "seccomp: architecture %s",
                                    spec->architectures[i]);
        }
    }
  for (size_t i = 0; i < spec->n_flags; i++)
    {
      const char *flag = spec->flags[i];
      int r = 0;
      if (strcmp (flag, "SECCOMP_FILTER_FLAG_TSYNC") == 0)
        r = seccomp_attr_set (ctx, SCMP_FLTATR_CTL_TSYNC, 1);
      else if (strcmp (flag, "SECCOMP_FILTER_FLAG_LOG") == 0)
        r = seccomp_attr_set (ctx, SCMP_FLTATR_CTL_LOG, 1);
      else if (strcmp (flag, "SECCOMP_FILTER_FLAG_SPEC_ALLOW") == 0)
        r = seccomp_attr_set (ctx, SCMP_FLTATR_CTL_SSB, 1);
      else
        agent_debug ("seccomp: ignoring unknown flag %s", flag);
      if (r < 0)
        agent_debug ("seccomp: flag %s not supported: %s", flag, strerror (-r));
    }

  for (size_t i = 0; i < spec->n_syscalls; i++)
    {
      const Grpc__LinuxSyscall *sc = spec->syscalls[i];
      uint32_t action;
      bool has_errno = sc->errno_ret_case == GRPC__LINUX_SYSCALL__ERRNO_RET_ERRNORET;
      if (!parse_action (sc->action, has_errno, sc->errnoret, &action, err))
        {
          seccomp_release (ctx);
          return false;
        }
      if (sc->n_args > 6)
        {
          seccomp_release (ctx);
          return agent_error (err, VC_TTRPC_CODE_INVALID_ARGUMENT, "seccomp: more than 6 argument rules");
        }
      struct scmp_arg_cmp cmps[6];
      for (size_t a = 0; a < sc->n_args; a++)
        {
          enum scmp_compare op = SCMP_CMP_EQ;
          if (!parse_op (sc->args[a]->op, &op, err))
            {
              seccomp_release (ctx);
              return false;
            }
          cmps[a] = (struct scmp_arg_cmp) {
            .arg = (unsigned) sc->args[a]->index, .op = op,
            .datum_a = sc->args[a]->value, .datum_b = sc->args[a]->valuetwo,
          };
        }
      for (size_t n = 0; n < sc->n_names; n++)
        {
          int nr = seccomp_syscall_resolve_name (sc->names[n]);
          if (nr == __NR_SCMP_ERROR)
            {
              /* as runc: a syscall this kernel/arch does not know is skipped */
              agent_debug ("seccomp: unknown syscall %s skipped", sc->names[n]);
              continue;
            }
          if (action == default_action)
            continue; /* libseccomp refuses rules equal to the default */
          if (!add_rules (ctx, action, sc->names[n], nr, cmps, sc->n_args, err))
            {
              seccomp_release (ctx);
              return false;
            }
        }
    }
  *out = ctx;
  return true;
}

bool
seccomp_load_ctx (void *ctx, char *msg, size_t msg_len)
{
  int r = seccomp_load (ctx);
  if (r < 0)
    return msg_fail (msg, msg_len, -r, "cannot load the seccomp filter");
  return true;
}

void
seccomp_free (void *ctx)
{
  if (ctx)
    seccomp_release (ctx);
}
