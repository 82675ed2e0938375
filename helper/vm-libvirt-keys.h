/* LockKeys= names (QEMU qcodes) as Linux key codes, for libvirt's
 * virDomainSendKey with VIR_KEYCODE_SET_LINUX. */
#pragma once

#include <glib.h>

G_BEGIN_DECLS

/* The Linux KEY_* code of QEMU qcode @name, or -1 ("unmapped", unknown). */
int sg_vm_libvirt_linux_keycode (const char *name);

G_END_DECLS
