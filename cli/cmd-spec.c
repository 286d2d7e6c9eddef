/* vcrun spec: writes a default config.json, as `runc spec` does. */
#include "config.h"

#include <errno.h>
#include <stdio.h>

#include "cli.h"

static const char default_spec[] =
  "{\n"
  "  \"ociVersion\": \"1.0.2\",\n"
  "  \"process\": {\n"
  "    \"terminal\": true,\n"
  "    \"user\": { \"uid\": 0, \"gid\": 0 },\n"
  "    \"args\": [ \"sh\" ],\n"
  "    \"env\": [\n"
  "      \"PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin\",\n"
  "      \"TERM=xterm\"\n"
  "    ],\n"
  "    \"cwd\": \"/\",\n"
  "    \"capabilities\": {\n"
  "      \"bounding\": [ \"CAP_AUDIT_WRITE\", \"CAP_KILL\", \"CAP_NET_BIND_SERVICE\" ],\n"
  "      \"effective\": [ \"CAP_AUDIT_WRITE\", \"CAP_KILL\", \"CAP_NET_BIND_SERVICE\" ],\n"
  "      \"permitted\": [ \"CAP_AUDIT_WRITE\", \"CAP_KILL\", \"CAP_NET_BIND_SERVICE\" ],\n"
  "      \"ambient\": [ \"CAP_AUDIT_WRITE\", \"CAP_KILL\", \"CAP_NET_BIND_SERVICE\" ]\n"
  "    },\n"
  "    \"rlimits\": [ { \"type\": \"RLIMIT_NOFILE\", \"hard\": 1024, \"soft\": 1024 } ],\n"
  "    \"noNewPrivileges\": true\n"
  "  },\n"
  "  \"root\": { \"path\": \"rootfs\", \"readonly\": true },\n"
  "  \"hostname\": \"vcrun\",\n"
  "  \"mounts\": [\n"
  "    { \"destination\": \"/proc\", \"type\": \"proc\", \"source\": \"proc\" },\n"
  "    { \"destination\": \"/dev\", \"type\": \"tmpfs\", \"source\": \"tmpfs\",\n"
  "      \"options\": [ \"nosuid\", \"strictatime\", \"mode=755\", \"size=65536k\" ] },\n"
  "    { \"destination\": \"/dev/pts\", \"type\": \"devpts\", \"source\": \"devpts\",\n"
  "      \"options\": [ \"nosuid\", \"noexec\", \"newinstance\", \"ptmxmode=0666\", \"mode=0620\" ] },\n"
  "    { \"destination\": \"/dev/shm\", \"type\": \"tmpfs\", \"source\": \"shm\",\n"
  "      \"options\": [ \"nosuid\", \"noexec\", \"nodev\", \"mode=1777\", \"size=65536k\" ] },\n"
  "    { \"destination\": \"/sys\", \"type\": \"sysfs\", \"source\": \"sysfs\",\n"
  "      \"options\": [ \"nosuid\", \"noexec\", \"nodev\", \"ro\" ] },\n"
  "    { \"destination\": \"/tmp\", \"type\": \"tmpfs\", \"source\": \"tmpfs\",\n"
  "      \"options\": [ \"nosuid\", \"nodev\", \"mode=1777\" ] }\n"
  "  ],\n"
  "  \"linux\": {\n"
  "    \"resources\": { \"devices\": [ { \"allow\": false, \"access\": \"rwm\" } ] },\n"
  "    \"namespaces\": [\n"
  "      { \"type\": \"pid\" }, { \"type\": \"network\" }, { \"type\": \"ipc\" },\n"
  "      { \"type\": \"uts\" }, { \"type\": \"mount\" }\n"
  "    ],\n"
  "    \"maskedPaths\": [ \"/proc/kcore\", \"/proc/keys\", \"/proc/timer_list\", \"/sys/firmware\" ],\n"
  "    \"readonlyPaths\": [ \"/proc/bus\", \"/proc/fs\", \"/proc/irq\", \"/proc/sys\", \"/proc/sysrq-trigger\" ]\n"
  "  }\n"
  "}\n";

int
vc_cmd_spec (VcCli *cli, const VcCliArgs *args)
{
  g_autoptr(GError) error = NULL;
  const char *dir = args->bundle ? args->bundle : ".";
  if (!g_file_test (dir, G_FILE_TEST_IS_DIR))
    return vc_cli_fail_msg ("spec: bundle directory %s does not exist", dir);
  g_autofree char *path = g_build_filename (dir, "config.json", NULL);
  if (g_file_test (path, G_FILE_TEST_EXISTS))
    return vc_cli_fail_msg ("spec: %s exists already; remove it first", path);
  if (!g_file_set_contents_full (path, default_spec, -1, G_FILE_SET_CONTENTS_CONSISTENT, 0644, &error))
    return vc_cli_fail (error);
  return 0;
}
