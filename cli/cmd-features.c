/* vcrun features: what this runtime supports, as the OCI runtime-spec's
 * features document (features.md) describes it: the spec versions, hooks,
 * mount options the guest agent knows, and the Linux features. */
#include "config.h"

#include <json-glib/json-glib.h>
#include <vcrun/types.h>
#include "cli.h"

static JsonArray *
strings (const char *const *values)
{
  JsonArray *array = json_array_new ();
  for (gsize i = 0; values[i]; i++)
    json_array_add_string_element (array, values[i]);
  return array;
}

int
vc_cmd_features (VcCli *cli, const VcCliArgs *args)
{
  static const char *const hooks[] = {
    "prestart", "createRuntime", "createContainer", "startContainer", "poststart", "poststop", NULL
  };
  /* guest/agent/mountopts.c's tables, and tmpcopyup. */
  static const char *const mount_options[] = {
    "async", "atime", "bind", "defaults", "dev", "diratime", "dirsync", "exec", "mand", "noatime",
    "nodev", "nodiratime", "noexec", "nomand", "norelatime", "nostrictatime", "nosuid",
    "nosymfollow", "notmpcopyup", "private", "rbind", "relatime", "remount", "ro", "rprivate",
    "rshared", "rslave", "runbindable", "rw", "shared", "slave", "strictatime", "suid",
    "symfollow", "sync", "tmpcopyup", "unbindable", NULL
  };
  static const char *const namespaces[] = {
    "cgroup", "ipc", "mount", "network", "pid", "uts", NULL
  };
  (void) cli;
  (void) args;

  g_autoptr(JsonObject) features = json_object_new ();
  json_object_set_string_member (features, "ociVersionMin", "1.0.0");
  json_object_set_string_member (features, "ociVersionMax", VC_CLI_OCI_VERSION);
  json_object_set_array_member (features, "hooks", strings (hooks));
  json_object_set_array_member (features, "mountOptions", strings (mount_options));

  JsonObject *linux_ = json_object_new ();
  json_object_set_array_member (linux_, "namespaces", strings (namespaces));
  JsonObject *cgroup = json_object_new ();
  json_object_set_boolean_member (cgroup, "v1", FALSE);
  json_object_set_boolean_member (cgroup, "v2", TRUE);
  json_object_set_boolean_member (cgroup, "systemd", FALSE);
  json_object_set_boolean_member (cgroup, "systemdUser", FALSE);
  json_object_set_object_member (linux_, "cgroup", cgroup);
  JsonObject *seccomp = json_object_new ();
  json_object_set_boolean_member (seccomp, "enabled", TRUE);
  json_object_set_object_member (linux_, "seccomp", seccomp);
  JsonObject *apparmor = json_object_new ();
  json_object_set_boolean_member (apparmor, "enabled", FALSE);
  json_object_set_object_member (linux_, "apparmor", apparmor);
  JsonObject *selinux = json_object_new ();
  json_object_set_boolean_member (selinux, "enabled", FALSE);
  json_object_set_object_member (linux_, "selinux", selinux);
  json_object_set_object_member (features, "linux", linux_);

  JsonObject *annotations = json_object_new ();
  json_object_set_string_member (annotations, "org.vcrun.version", PACKAGE_VERSION);
  json_object_set_object_member (features, "annotations", annotations);

  g_autoptr(JsonNode) node = json_node_init_object (json_node_alloc (), features);
  vc_cli_print_json (node);
  return 0;
}
