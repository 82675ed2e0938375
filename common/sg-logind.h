/* seatgate's one logind client, shared by helper, agent and CLI: logind's
 * names, its session as one type with one parser, the rule for whether a
 * session makes its owner a seat's console user, and the one way to take
 * logind's signals (from its unique name only). */
#pragma once

#include <gio/gio.h>

G_BEGIN_DECLS

#define SG_LOGIND_NAME "org.freedesktop.login1"
#define SG_LOGIND_PATH "/org/freedesktop/login1"
#define SG_LOGIND_MANAGER SG_LOGIND_NAME ".Manager"
#define SG_LOGIND_SEAT SG_LOGIND_NAME ".Seat"
#define SG_LOGIND_SESSION SG_LOGIND_NAME ".Session"
#define SG_LOGIND_USER SG_LOGIND_NAME ".User"
/* logind's D-Bus errors are named SG_LOGIND_ERROR "NoSuchSeat" and so on. */
#define SG_LOGIND_ERROR SG_LOGIND_NAME "."

/* A session's properties as logind reported them (org.freedesktop.login1
 * .Session). Strings are NULL while unknown, except @seat: "" without a
 * seat. */
typedef struct
{
  char *id;
  char *object_path; /* NULL when not known */
  guint32 uid;
  char *name; /* the user's name */
  char *seat;
  gboolean remote;
  char *remote_host;
  char *session_class;
  char *type;
  gboolean active;
  char *state; /* opening, online, active, closing: changes without a signal */
} SgLogindSession;

SgLogindSession *sg_logind_session_new (const char *object_path);
void sg_logind_session_free (SgLogindSession *session);
/* Frees the fields of a session kept by value, and zeroes them. */
void sg_logind_session_clear (SgLogindSession *session);
G_DEFINE_AUTOPTR_CLEANUP_FUNC (SgLogindSession, sg_logind_session_free)

/* Applies an a{sv} of Session properties, as GetAll or PropertiesChanged
 * carry them; keys of another type than logind's are ignored. */
void sg_logind_session_apply (SgLogindSession *session, GVariant *props);

/* A session from GetAll's answer, which must hold every property the rule
 * below reads (Id, User, Seat, Remote, Class, Type, Active, State): what is
 * missing is an error, never a default. */
SgLogindSession *sg_logind_session_from_props (const char *object_path, GVariant *props,
                                               GError **error);

/* Why a session with these logind properties is not the active, local,
 * class "user" session of @wanted_seat (NULL: of whatever seat it is on), as
 * a short phrase for a person ("remote session", "not the active session on
 * seat0"); NULL when it is. @state may be NULL when unknown; otherwise it
 * must be "active". */
char *sg_logind_session_flaw (const char *seat, const char *wanted_seat, gboolean remote,
                              const char *session_class, gboolean active, const char *state);

/* Subscribes to a signal of logind's @owner, its unique name. Never by the
 * well-known name: a GLib without the CVE-2024-34397 fix (before 2.80.1)
 * delivers a signal subscribed by well-known name from any sender, so a
 * local user could forge SessionRemoved or PropertiesChanged. So each new
 * owner of the name is subscribed to afresh. NULL @path or @arg0: any. */
guint sg_logind_subscribe (GDBusConnection *bus, const char *owner, const char *interface,
                           const char *member, const char *path, const char *arg0,
                           GDBusSignalCallback callback, gpointer user_data);

/* Unsubscribes *@id, if set, and zeroes it. */
void sg_logind_unsubscribe (GDBusConnection *bus, guint *id);

G_END_DECLS
