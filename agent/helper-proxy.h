/* The helper, io.github.seatgate.Gate1, as the agent sees it: whether it is
 * on the bus, which seats it gates, the revocations of our grant, and the
 * Grant call. Nothing else of the helper reaches the agent, so other users'
 * grant changes do not wake it. */
#pragma once

#include <gio/gio.h>

#include "console.h"

G_BEGIN_DECLS

typedef struct _SgHelperProxy SgHelperProxy;

typedef struct
{
  /* The helper appeared (once its Seats is read, or could not be),
   * vanished or was replaced; sg_helper_proxy_get_generation () tells which owner
   * this is. */
  void (*changed) (SgHelperProxy *proxy, gpointer user_data);
  /* The helper ended our uid's grant on @seat, the one given to
   * sg_helper_proxy_follow_revocations (); @reason is the signal's. */
  void (*revoked) (SgHelperProxy *proxy, const char *seat, const char *reason, gpointer user_data);
} SgHelperProxyCallbacks;

typedef enum
{
  SG_HELPER_SEAT_UNKNOWN,   /* the helper's Seats is not known */
  SG_HELPER_SEAT_NOT_GATED, /* the helper gates no port on that seat */
  SG_HELPER_SEAT_GATED,
} SgHelperSeat;

SgHelperProxy *sg_helper_proxy_new (GDBusConnection *system_bus, guint32 uid,
                                    const SgHelperProxyCallbacks *callbacks, gpointer user_data);
void sg_helper_proxy_free (SgHelperProxy *proxy);

/* Follows Revoked for our uid on @seat, our session's; NULL or "" stops
 * following. Meant for while a grant is asked for or held: the bus filters
 * on the seat alone, so following it otherwise would wake us for every grant
 * change of that seat's user. */
void sg_helper_proxy_follow_revocations (SgHelperProxy *proxy, const char *seat);

/* FALSE until the first look at the bus is done. */
gboolean sg_helper_proxy_is_ready (const SgHelperProxy *proxy);
/* The helper owns its bus name. */
gboolean sg_helper_proxy_is_present (const SgHelperProxy *proxy);
/* Bumped each time the helper's owner changes; a grant asked of an earlier
 * owner is void. */
guint sg_helper_proxy_get_generation (const SgHelperProxy *proxy);

/* Whether the helper gates a port on @seat, and its first one. UNKNOWN
 * while the helper is absent, or when its Seats could not be read. */
SgHelperSeat sg_helper_proxy_lookup_seat (const SgHelperProxy *proxy, const char *seat,
                                          guint16 *first_port);

/* Calls Grant (). The helper takes our uid from the bus. */
void sg_helper_proxy_grant (SgHelperProxy *proxy, GCancellable *cancellable,
                            GAsyncReadyCallback callback, gpointer user_data);
gboolean sg_helper_proxy_grant_finish (SgHelperProxy *proxy, GAsyncResult *result, GError **error);

/* Calls OpenConsole () on the helper that granted: it answers only the
 * connection holding the grant, this one. */
void sg_helper_proxy_open_console (SgHelperProxy *proxy, GCancellable *cancellable,
                                   GAsyncReadyCallback callback, gpointer user_data);
/* The helper's answer, checked (console.h); NULL with the helper's refusal
 * (SG_ERROR_NOT_SEAT_OWNER, ...) or what is wrong with its answer. */
SgConsole *sg_helper_proxy_open_console_finish (SgHelperProxy *proxy, GAsyncResult *result,
                                                GError **error);

/* Calls Release (): gives up a grant we no longer speak for. Nothing is
 * waited for; the helper's answer is only logged. */
void sg_helper_proxy_release (SgHelperProxy *proxy);

/* "(seat, [ports])" pairs, for the unit tests: finds @seat's first port. */
SgHelperSeat sg_helper_proxy_seats_lookup (GVariant *seats, const char *seat, guint16 *first_port);

G_DEFINE_AUTOPTR_CLEANUP_FUNC (SgHelperProxy, sg_helper_proxy_free)

G_END_DECLS
