/* seatgate.conf: which seats gate which ports, and who may always connect. */
#pragma once

#include <glib.h>

G_BEGIN_DECLS

/* How the helper keeps its nftables table (see helper/nft-gate.h). */
typedef enum
{
  SG_TABLE_MODE_AUTO,       /* the strongest the kernel offers: persistent, backstop, plain */
  SG_TABLE_MODE_PERSISTENT, /* owned + persistent (Linux >= 6.9), or fail */
  SG_TABLE_MODE_BACKSTOP,   /* owned table + plain backstop table (Linux >= 5.12), or fail */
  SG_TABLE_MODE_PLAIN,      /* an ordinary table, watched and restored */
} SgTableMode;

/* Where a setting came from: @file is one of SgConfig.files (NULL for the
 * built-in default), @line its line there (0 for the built-in default). */
typedef struct
{
  const char *file;
  guint line;
} SgConfigOrigin;

typedef struct
{
  char *name;                       /* logind seat id, e.g. "seat0" */
  GArray *ports;                    /* guint16, ascending, unique */
  guint line;                       /* where its group starts, for messages (= origin.line) */
  SgConfigOrigin origin;            /* the group's first appearance */
  SgConfigOrigin ports_origin;      /* the Ports= in force (a drop-in's wins) */
  char *qmp_socket;                 /* QMPSocket=: the seat's VM's QMP unix socket, or NULL */
  SgConfigOrigin qmp_socket_origin; /* where QMPSocket= was set */
  GStrv lock_keys;                  /* LockKeys=: QEMU qcodes pressed together, or NULL (off) */
  SgConfigOrigin lock_keys_origin;  /* where LockKeys= was set */
  char *libvirt_domain;             /* LibvirtDomain=: the seat's VM's libvirt domain, or NULL */
  SgConfigOrigin libvirt_domain_origin; /* where LibvirtDomain= was set */
  char *libvirt_uri;                    /* LibvirtURI=, or NULL: SG_LIBVIRT_URI_DEFAULT */
  SgConfigOrigin libvirt_uri_origin;    /* where LibvirtURI= was set */
} SgSeatConfig;

/* The libvirt connection a LibvirtDomain= without LibvirtURI= uses. */
#define SG_LIBVIRT_URI_DEFAULT "qemu:///system"

/* @seat's LibvirtURI=, or the default. */
const char *sg_seat_config_libvirt_uri (const SgSeatConfig *seat);

typedef struct
{
  char *path;            /* the main file asked for, or NULL for built-in defaults */
  GPtrArray *files;      /* char*: every file read, in order (main file, then drop-ins) */
  gboolean main_missing; /* the main file did not exist; the built-in default stood in */
  GPtrArray *seats;      /* SgSeatConfig*, in file order */
  GArray *always_allow;  /* guint32 uids, unique, in file order */
  SgTableMode table_mode;
  char *viewer_command; /* [Agent] ViewerCommand, NULL when unset */
  SgConfigOrigin always_allow_origin;
  SgConfigOrigin table_mode_origin;
  SgConfigOrigin viewer_command_origin;
} SgConfig;

/* Largest config file accepted, in bytes. */
#define SG_CONFIG_MAX_SIZE (1024 * 1024)

/* The built-in configuration: seat0 gates 5930. */
SgConfig *sg_config_new_default (void);

/* Drop-ins of @path live in "@path.d/": /etc/seatgate/seatgate.conf.d/. */
#define SG_CONFIG_DROPIN_SUFFIX ".d"

/* Reads @path, then every "*.conf" in @path.d/ (names beginning with '.'
 * skipped) in byte order of their names, each file on its own with the same
 * rules; a key set in a later file replaces the earlier value, a group
 * named again adds to it or replaces its keys. The merged result is checked
 * as one (every seat has ports, a port belongs to one seat). Every problem
 * is an SG_ERROR_INVALID_CONFIG whose message names the file, the line, the
 * group and key, what is wrong and how to fix it; one broken drop-in fails
 * the whole load. A missing @path with drop-ins present: the built-in
 * default stands in for it (config->main_missing). A missing @path without
 * drop-ins is G_IO_ERROR_NOT_FOUND. */
SgConfig *sg_config_load_file (const char *path, GError **error);

/* The drop-in folder of @path (a new string). */
char *sg_config_dropin_dir (const char *path);

/* Parses @data (@len bytes; may hold anything). @name names it in messages.
 * With @agent_only, only an [Agent] group is allowed (the user's agent.conf). */
SgConfig *sg_config_load_data (const char *data, gsize len, const char *name, gboolean agent_only,
                               GError **error);

const SgSeatConfig *sg_config_find_seat (const SgConfig *config, const char *name);

/* The seat that gates @port, or NULL. */
const SgSeatConfig *sg_config_seat_for_port (const SgConfig *config, guint16 port);

/* Every gated port of every seat, ascending (a new GArray of guint16). */
GArray *sg_config_all_ports (const SgConfig *config);

const char *sg_table_mode_to_string (SgTableMode mode);

/* "FILE:LINE", or "built-in default" (a new string). */
char *sg_config_origin_to_string (const SgConfigOrigin *origin);

void sg_config_free (SgConfig *config);

G_DEFINE_AUTOPTR_CLEANUP_FUNC (SgConfig, sg_config_free)

G_END_DECLS
