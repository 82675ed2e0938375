/* One QMP connection to a QEMU monitor socket: the greeting, capabilities
 * negotiation, commands matched to their replies by id, and asynchronous
 * events. The VM is not trusted: every line is bounded, every reply checked. */
#pragma once

#include <gio/gio.h>
#include <json-glib/json-glib.h>

G_BEGIN_DECLS

typedef struct _SgVmQmp SgVmQmp;

/* Longest line (reply or event) accepted from the VM, in bytes. */
#define SG_VM_QMP_MAX_LINE (1024 * 1024)

typedef struct
{
  /* A QMP event: @name ("SPICE_CONNECTED"), @data its "data" object (may be
   * NULL), valid during the call. */
  void (*event) (SgVmQmp *qmp, const char *name, JsonObject *data, gpointer user_data);
  /* The connection ended: EOF (G_IO_ERROR_CLOSED), an I/O error or a VM that
   * broke the protocol. Called once, never from sg_vm_qmp_free. */
  void (*closed) (SgVmQmp *qmp, const GError *error, gpointer user_data);
} SgVmQmpEvents;

/* A connection to the QMP socket at @path, not yet made. @events (may be
 * NULL) must outlive it. */
SgVmQmp *sg_vm_qmp_new (const char *path, const SgVmQmpEvents *events, gpointer user_data);

/* Connects, reads QEMU's greeting and negotiates capabilities. Once. */
void sg_vm_qmp_connect_async (SgVmQmp *qmp, GAsyncReadyCallback callback, gpointer user_data);
gboolean sg_vm_qmp_connect_finish (GAsyncResult *result, GError **error);

/* Sends {"execute": @command, "arguments": @arguments, "id": N}. @arguments
 * (may be NULL) is taken. With @secret_member, that string member of
 * @arguments is overwritten in memory once sent. */
void sg_vm_qmp_execute_async (SgVmQmp *qmp, const char *command, JsonObject *arguments,
                              const char *secret_member, GAsyncReadyCallback callback,
                              gpointer user_data);
/* The command's "return" value (a new node), or NULL: an error reply is
 * SG_VM_QMP_ERROR with its class and "desc" in the message; a closed
 * connection fails with the reason it closed. */
JsonNode *sg_vm_qmp_execute_finish (GAsyncResult *result, GError **error);

/* The VM answered a command with {"error": {"class": ..., "desc": ...}}. */
#define SG_VM_QMP_ERROR (sg_vm_qmp_error_quark ())
GQuark sg_vm_qmp_error_quark (void);

/* Closes the connection. A connect or commands still waiting finish with
 * G_IO_ERROR_CANCELLED, possibly before this returns. */
void sg_vm_qmp_free (SgVmQmp *qmp);
G_DEFINE_AUTOPTR_CLEANUP_FUNC (SgVmQmp, sg_vm_qmp_free)

G_END_DECLS
