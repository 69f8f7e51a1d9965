/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/* Commands of netctl that live in files of their own. */

#define USAGE_LOG "netctl log drops [TENANT] [--follow] [--since N] [--limit N]"
/* log.c */
int cmd_log(int argc, char **argv);
