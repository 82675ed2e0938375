/* QEMU key names (QKeyCode), for LockKeys= and QMP send-key. */
#pragma once

#include <glib.h>

G_BEGIN_DECLS

/* At most this many keys in one LockKeys= combination. */
#define SG_LOCK_KEYS_MAX 8

/* @name is a QKeyCode name of QEMU 7.2 ("meta_l", "l", "ctrl", "alt"). */
gboolean sg_qkeycode_is_valid (const char *name);

/* How many names the table holds (for tests). */
guint sg_qkeycode_count (void);

G_END_DECLS
