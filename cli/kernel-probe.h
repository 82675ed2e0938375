/* What the running kernel offers seatgate, found without changing anything. */
#pragma once

#include <glib.h>

G_BEGIN_DECLS

typedef enum
{
  SGCTL_FEATURE_UNKNOWN,
  SGCTL_FEATURE_PRESENT,
  SGCTL_FEATURE_MISSING,
} SgctlFeature;

/* The kernel's version from uname (e.g. 6, 1); FALSE if it cannot be read. */
gboolean sgctl_kernel_version (guint *major, guint *minor, char **release);

/* The nftables owner table flag (Linux >= 5.12). The persist flag (6.9)
 * changes nothing doctor reports: see cmd-doctor.c's table checks. */
SgctlFeature sgctl_kernel_has_table_owner (void);

/* sock_diag SOCK_DESTROY for TCP (CONFIG_INET_DIAG_DESTROY): asks the kernel
 * to destroy a socket that cannot exist; ENOENT means it would have tried. */
SgctlFeature sgctl_kernel_has_sock_destroy (void);

G_END_DECLS
