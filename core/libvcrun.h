/* libvcrun's face: the one header that vcrun (cli/) and vcrund (daemon/)
 * include. libvcrun is a convenience library linked into both; it is not
 * installed, and nothing outside core/ includes another core header (a check
 * in `make check` greps for it). Plugins see only <vcrun/...>.
 */
#pragma once

#include <vcrun/types.h>
#include <vcrun/plugin.h>

#include "runtime.h"
#include "sandbox.h"
#include "container.h"
#include "owner.h"
#include "owner-client.h"
#include "stdio-pump.h"
#include "bundle.h"
#include "dbus-errors.h"
#include "host-check.h"
#include "template.h"
#include "host-cgroup.h"
#include "json-text.h"
