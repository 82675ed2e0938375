/* seatgate's nftables tables (see nft-gate.h for the layouts), through
 * libnftnl + libmnl.
 *
 * Every change is one nfnetlink batch. The kernel answers every refused
 * message of a batch whether or not it asked for an ACK, so only the last
 * message asks for one: its ACK comes after every other answer and confirms
 * that the batch was processed. The answers are read back before returning,
 * so a caller learns of each refusal, with the kernel's extended-ACK text
 * when there is one. */
#include "nft-gate.h"

#include <errno.h>
#include <string.h>
#include <time.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include <gio/gio.h>
#include <libmnl/libmnl.h>
#include <libnftnl/chain.h>
#include <libnftnl/common.h>
#include <libnftnl/expr.h>
#include <libnftnl/rule.h>
#include <libnftnl/set.h>
#include <libnftnl/table.h>
#include <libnftnl/udata.h>
#include <linux/netfilter.h>
#include <linux/netfilter/nf_tables.h>
#include <linux/netfilter/nfnetlink.h>
#include <linux/netlink.h>
#include <linux/rtnetlink.h>

#include "sg-ports.h"
#include "sg-names.h"

/* Kernel >= 6.9; Debian 12's 6.1 headers lack it. */
#ifndef NFT_TABLE_F_PERSIST
#define NFT_TABLE_F_PERSIST 0x4
#endif

/* Kernel >= 6.3 (NFT_MSG_DELFLOWTABLE + 6); Debian 12's headers lack it.
 * Unlike DELSETELEM, a missing element is not an error. */
#define SG_NFT_MSG_DESTROYSETELEM 30

#define SG_CHAIN_OUTPUT "output"
#define SG_CHAIN_INPUT "input"

/* nftables' datatype ids (src/datatype.h) and how it builds a concatenation's
 * id: each component shifted in by TYPE_BITS. `nft list` prints elements from
 * these. */
#define SG_NFT_TYPE_INET_SERVICE 13
#define SG_NFT_TYPE_UID 24
#define SG_NFT_TYPE_BITS 6
#define SG_NFT_TYPE_UID_SERVICE ((SG_NFT_TYPE_UID << SG_NFT_TYPE_BITS) | SG_NFT_TYPE_INET_SERVICE)

/* nftables' enum byteorder, stored in the set's userdata: without HOST for a
 * uid key `nft list` prints uids byte-swapped. A concatenation carries its
 * components' byte orders in its type, so nft stores INVALID there. */
#define SG_NFT_BYTEORDER_INVALID 0
#define SG_NFT_BYTEORDER_HOST 1
#define SG_NFT_BYTEORDER_BIG 2

/* Elements per NEWSETELEM message, so one message stays well under a page. */
#define SG_ELEMS_PER_MSG 256

/* Room reserved for building one message. */
#define SG_MSG_ROOM (SG_ELEMS_PER_MSG * 64 + 4096)

#define SG_RECV_BUFFER_SIZE 32768

/* netlink_sendmsg() refuses a message longer than the send buffer less this. */
#define SG_NETLINK_SNDBUF_RESERVE 32

typedef struct nftnl_table SgNftnlTable;
typedef struct nftnl_chain SgNftnlChain;
typedef struct nftnl_set SgNftnlSet;
typedef struct nftnl_rule SgNftnlRule;
typedef struct nftnl_udata_buf SgNftnlUdataBuf;
G_DEFINE_AUTOPTR_CLEANUP_FUNC (SgNftnlTable, nftnl_table_free)
G_DEFINE_AUTOPTR_CLEANUP_FUNC (SgNftnlChain, nftnl_chain_free)
G_DEFINE_AUTOPTR_CLEANUP_FUNC (SgNftnlSet, nftnl_set_free)
G_DEFINE_AUTOPTR_CLEANUP_FUNC (SgNftnlRule, nftnl_rule_free)
G_DEFINE_AUTOPTR_CLEANUP_FUNC (SgNftnlUdataBuf, nftnl_udata_buf_free)

struct _SgNftGate
{
  SgTableMode mode;
  struct mnl_socket *nl;
  guint32 portid;
  guint32 seq;
  SgNftLayout layout;
  char *layout_text; /* sg_nft_gate_describe_layout() */
  /* What the gate may use: all, less what sg_nft_gate_limit_kernel() took
   * away and what the kernel refused (learnt once, not retried each reset). */
  SgNftKernelFeatures features;
  SgNftKernelFeatures limited; /* taken away by sg_nft_gate_limit_kernel() */
  /* Something was put in the cut set since the last reset. The gate is the
   * set's only writer (in an owned table, the kernel sees to that), so a
   * grant needs to clear its pairs from it only then: one message less per
   * grant on the hot path. */
  gboolean cut_used;
  /* The cut rule is in chain output: added with the first cut after a reset
   * (see rule_output_cut), set once the kernel confirmed that batch. */
  gboolean cut_rule;
  /* The socket's send buffer as last read: a getsockopt() per batch would
   * cost a syscall on the grant's path. */
  gsize sndbuf;
  guint64 last_batch_ns;
};

/* One message of a batch, for the error message if the kernel refuses it. */
typedef struct
{
  guint16 type;
  const char *table;   /* the table the message is about */
  guint32 table_flags; /* NEWTABLE: the NFT_TABLE_F_* flags asked for */
  char *what;
} SgBatchMsg;

typedef struct
{
  GByteArray *buf;
  GArray *msgs;      /* SgBatchMsg, in order; message i has seq seq_begin + 1 + i */
  guint32 seq_begin; /* the BATCH_BEGIN message */
  guint last_offset; /* where the last message starts in buf */
  guint n_sets;      /* NFTNL_SET_ID for sets created in this batch */
  /* Filled by gate_talk(). */
  gboolean answered; /* the last message's answer arrived: the batch is done */
  int failed_errno;
  gint failed_index; /* -1: the batch as a whole (e.g. commit, capability) */
  char *failed_ext_msg;
} SgBatch;

static void
batch_msg_clear (gpointer data)
{
  SgBatchMsg *msg = data;

  g_free (msg->what);
}

static char *batch_reserve (SgBatch *batch);

static SgBatch *
batch_new (SgNftGate *gate)
{
  SgBatch *batch = g_new0 (SgBatch, 1);

  batch->buf = g_byte_array_new ();
  batch->msgs = g_array_new (FALSE, TRUE, sizeof (SgBatchMsg));
  g_array_set_clear_func (batch->msgs, batch_msg_clear);
  batch->seq_begin = gate->seq;

  struct nlmsghdr *nlh = nftnl_batch_begin (batch_reserve (batch), batch->seq_begin);
  g_byte_array_set_size (batch->buf, NLMSG_ALIGN (nlh->nlmsg_len));
  return batch;
}

static void
batch_free (SgBatch *batch)
{
  g_byte_array_unref (batch->buf);
  g_array_unref (batch->msgs);
  g_free (batch->failed_ext_msg);
  g_free (batch);
}

G_DEFINE_AUTOPTR_CLEANUP_FUNC (SgBatch, batch_free)

static guint32
batch_next_seq (SgBatch *batch)
{
  return batch->seq_begin + 1 + batch->msgs->len;
}

/* Where the next message is to be built; SG_MSG_ROOM bytes are available. */
static char *
batch_reserve (SgBatch *batch)
{
  guint len = batch->buf->len;

  g_byte_array_set_size (batch->buf, len + SG_MSG_ROOM);
  g_byte_array_set_size (batch->buf, len);
  return (char *) batch->buf->data + len;
}

/* Takes the message built at batch_reserve() into the batch. */
static guint
batch_commit (SgBatch *batch, const struct nlmsghdr *nlh, const char *table, char *what)
{
  SgBatchMsg msg = { .type = NFNL_MSG_TYPE (nlh->nlmsg_type), .table = table, .what = what };

  g_assert (nlh->nlmsg_len <= SG_MSG_ROOM);
  batch->last_offset = batch->buf->len;
  g_byte_array_set_size (batch->buf, batch->buf->len + NLMSG_ALIGN (nlh->nlmsg_len));
  g_array_append_val (batch->msgs, msg);
  return batch->msgs->len - 1;
}

/* Closes the batch; only its last message asks for an ACK (see the top). */
static void
batch_end (SgBatch *batch)
{
  g_assert (batch->msgs->len > 0);
  ((struct nlmsghdr *) (batch->buf->data + batch->last_offset))->nlmsg_flags |= NLM_F_ACK;

  char *at = batch_reserve (batch);
  struct nlmsghdr *nlh = nftnl_batch_end (at, batch_next_seq (batch));

  g_byte_array_set_size (batch->buf, batch->buf->len + NLMSG_ALIGN (nlh->nlmsg_len));
}

/* Tables */

/* @flags < 0: no flags attribute, so an existing table is left as it is. */
static guint
batch_table (SgBatch *batch, const char *name, guint16 msg_type, guint16 nl_flags, gint64 flags,
             char *what)
{
  g_autoptr (SgNftnlTable) table = nftnl_table_alloc ();
  char *at = batch_reserve (batch);

  nftnl_table_set_str (table, NFTNL_TABLE_NAME, name);
  nftnl_table_set_u32 (table, NFTNL_TABLE_FAMILY, NFPROTO_INET);
  if (flags >= 0)
    nftnl_table_set_u32 (table, NFTNL_TABLE_FLAGS, (guint32) flags);

  struct nlmsghdr *nlh
      = nftnl_table_nlmsg_build_hdr (at, msg_type, NFPROTO_INET, nl_flags, batch_next_seq (batch));
  nftnl_table_nlmsg_build_payload (nlh, table);
  guint index = batch_commit (batch, nlh, name, what);
  g_array_index (batch->msgs, SgBatchMsg, index).table_flags = flags > 0 ? (guint32) flags : 0;
  return index;
}

/* Sets */

static void
batch_set (SgBatch *batch, const char *table, const char *name, guint32 key_type, guint32 key_len,
           guint32 byteorder)
{
  g_autoptr (SgNftnlSet) set = nftnl_set_alloc ();
  g_autoptr (SgNftnlUdataBuf) udata = nftnl_udata_buf_alloc (NFT_USERDATA_MAXLEN);
  char *at = batch_reserve (batch);

  nftnl_set_set_str (set, NFTNL_SET_TABLE, table);
  nftnl_set_set_str (set, NFTNL_SET_NAME, name);
  nftnl_set_set_u32 (set, NFTNL_SET_FAMILY, NFPROTO_INET);
  nftnl_set_set_u32 (set, NFTNL_SET_KEY_TYPE, key_type);
  nftnl_set_set_u32 (set, NFTNL_SET_KEY_LEN, key_len);
  nftnl_set_set_u32 (set, NFTNL_SET_ID, ++batch->n_sets);
  nftnl_udata_put_u32 (udata, NFTNL_UDATA_SET_KEYBYTEORDER, byteorder);
  nftnl_set_set_data (set, NFTNL_SET_USERDATA, nftnl_udata_buf_data (udata),
                      nftnl_udata_buf_len (udata));

  struct nlmsghdr *nlh = nftnl_nlmsg_build_hdr (at, NFT_MSG_NEWSET, NFPROTO_INET, NLM_F_CREATE,
                                                batch_next_seq (batch));
  nftnl_set_nlmsg_build_payload (nlh, set);
  batch_commit (batch, nlh, table, g_strdup_printf ("create set %s", name));
}

/* Set elements: @keys holds @n_keys keys of @key_len bytes each. */
static void
batch_set_elems (SgBatch *batch, const char *table, guint16 msg_type, const char *set_name,
                 const guint8 *keys, gsize key_len, gsize n_keys, const char *what)
{
  /* NEWSETELEM with CREATE but without EXCL: an element already there is fine. */
  guint16 nl_flags = msg_type == NFT_MSG_NEWSETELEM ? NLM_F_CREATE : 0;

  for (gsize first = 0; first < n_keys; first += SG_ELEMS_PER_MSG)
    {
      g_autoptr (SgNftnlSet) set = nftnl_set_alloc ();
      gsize last = MIN (n_keys, first + SG_ELEMS_PER_MSG);
      char *at = batch_reserve (batch);

      nftnl_set_set_str (set, NFTNL_SET_TABLE, table);
      nftnl_set_set_str (set, NFTNL_SET_NAME, set_name);
      nftnl_set_set_u32 (set, NFTNL_SET_FAMILY, NFPROTO_INET);
      for (gsize i = first; i < last; i++)
        {
          struct nftnl_set_elem *elem = nftnl_set_elem_alloc ();
          nftnl_set_elem_set (elem, NFTNL_SET_ELEM_KEY, keys + i * key_len, (guint32) key_len);
          nftnl_set_elem_add (set, elem);
        }

      struct nlmsghdr *nlh
          = nftnl_nlmsg_build_hdr (at, msg_type, NFPROTO_INET, nl_flags, batch_next_seq (batch));
      nftnl_set_elems_nlmsg_build_payload (nlh, set);
      batch_commit (batch, nlh, table, g_strdup (what));
    }
}

/* Chains */

static void
batch_chain (SgBatch *batch, const char *table, const char *name, guint32 hooknum)
{
  g_autoptr (SgNftnlChain) chain = nftnl_chain_alloc ();
  char *at = batch_reserve (batch);

  nftnl_chain_set_str (chain, NFTNL_CHAIN_TABLE, table);
  nftnl_chain_set_str (chain, NFTNL_CHAIN_NAME, name);
  nftnl_chain_set_u32 (chain, NFTNL_CHAIN_FAMILY, NFPROTO_INET);
  nftnl_chain_set_str (chain, NFTNL_CHAIN_TYPE, "filter");
  nftnl_chain_set_u32 (chain, NFTNL_CHAIN_HOOKNUM, hooknum);
  nftnl_chain_set_s32 (chain, NFTNL_CHAIN_PRIO, 0);
  nftnl_chain_set_u32 (chain, NFTNL_CHAIN_POLICY, NF_ACCEPT);

  struct nlmsghdr *nlh = nftnl_chain_nlmsg_build_hdr (at, NFT_MSG_NEWCHAIN, NFPROTO_INET,
                                                      NLM_F_CREATE, batch_next_seq (batch));
  nftnl_chain_nlmsg_build_payload (nlh, chain);
  batch_commit (batch, nlh, table, g_strdup_printf ("create chain %s", name));
}

/* Rules: expressions */

static void
add_meta (struct nftnl_rule *rule, guint32 key, guint32 dreg)
{
  struct nftnl_expr *expr = nftnl_expr_alloc ("meta");

  nftnl_expr_set_u32 (expr, NFTNL_EXPR_META_KEY, key);
  nftnl_expr_set_u32 (expr, NFTNL_EXPR_META_DREG, dreg);
  nftnl_rule_add_expr (rule, expr);
}

static void
add_cmp (struct nftnl_rule *rule, guint32 sreg, guint32 op, const void *data, guint32 len)
{
  struct nftnl_expr *expr = nftnl_expr_alloc ("cmp");

  nftnl_expr_set_u32 (expr, NFTNL_EXPR_CMP_SREG, sreg);
  nftnl_expr_set_u32 (expr, NFTNL_EXPR_CMP_OP, op);
  nftnl_expr_set (expr, NFTNL_EXPR_CMP_DATA, data, len);
  nftnl_rule_add_expr (rule, expr);
}

static void
add_payload_tcp (struct nftnl_rule *rule, guint32 offset, guint32 len, guint32 dreg)
{
  struct nftnl_expr *expr = nftnl_expr_alloc ("payload");

  nftnl_expr_set_u32 (expr, NFTNL_EXPR_PAYLOAD_BASE, NFT_PAYLOAD_TRANSPORT_HEADER);
  nftnl_expr_set_u32 (expr, NFTNL_EXPR_PAYLOAD_OFFSET, offset);
  nftnl_expr_set_u32 (expr, NFTNL_EXPR_PAYLOAD_LEN, len);
  nftnl_expr_set_u32 (expr, NFTNL_EXPR_PAYLOAD_DREG, dreg);
  nftnl_rule_add_expr (rule, expr);
}

static void
add_lookup (struct nftnl_rule *rule, guint32 sreg, const char *set, gboolean invert)
{
  struct nftnl_expr *expr = nftnl_expr_alloc ("lookup");

  nftnl_expr_set_u32 (expr, NFTNL_EXPR_LOOKUP_SREG, sreg);
  nftnl_expr_set_str (expr, NFTNL_EXPR_LOOKUP_SET, set);
  if (invert)
    nftnl_expr_set_u32 (expr, NFTNL_EXPR_LOOKUP_FLAGS, NFT_LOOKUP_F_INV);
  nftnl_rule_add_expr (rule, expr);
}

/* meta l4proto tcp */
static void
add_l4proto_tcp (struct nftnl_rule *rule)
{
  guint8 tcp = IPPROTO_TCP;

  add_meta (rule, NFT_META_L4PROTO, NFT_REG32_00);
  add_cmp (rule, NFT_REG32_00, NFT_CMP_EQ, &tcp, sizeof tcp);
}

/* tcp flags & (syn | ack) == syn: a new connection's first packet. */
static void
add_tcp_syn_only (struct nftnl_rule *rule)
{
  guint8 mask = 0x12, xor = 0, syn = 0x02;
  struct nftnl_expr *expr = nftnl_expr_alloc ("bitwise");

  add_payload_tcp (rule, 13, 1, NFT_REG32_00);
  nftnl_expr_set_u32 (expr, NFTNL_EXPR_BITWISE_SREG, NFT_REG32_00);
  nftnl_expr_set_u32 (expr, NFTNL_EXPR_BITWISE_DREG, NFT_REG32_00);
  nftnl_expr_set_u32 (expr, NFTNL_EXPR_BITWISE_LEN, 1);
  nftnl_expr_set (expr, NFTNL_EXPR_BITWISE_MASK, &mask, 1);
  nftnl_expr_set (expr, NFTNL_EXPR_BITWISE_XOR, &xor, 1);
  nftnl_rule_add_expr (rule, expr);
  add_cmp (rule, NFT_REG32_00, NFT_CMP_EQ, &syn, 1);
}

/* meta skuid . tcp dport: the uid into REG32_00, the port into REG32_01 (the
 * payload expression zeroes the register's two padding bytes). */
static void
add_uid_port_key (struct nftnl_rule *rule)
{
  add_meta (rule, NFT_META_SKUID, NFT_REG32_00);
  add_payload_tcp (rule, 2, 2, NFT_REG32_01);
}

/* fib daddr type local: the packet goes to an address of this host. */
static void
add_daddr_is_local (struct nftnl_rule *rule)
{
  struct nftnl_expr *expr = nftnl_expr_alloc ("fib");
  guint32 local = RTN_LOCAL;

  nftnl_expr_set_u32 (expr, NFTNL_EXPR_FIB_FLAGS, NFTA_FIB_F_DADDR);
  nftnl_expr_set_u32 (expr, NFTNL_EXPR_FIB_RESULT, NFT_FIB_RESULT_ADDRTYPE);
  nftnl_expr_set_u32 (expr, NFTNL_EXPR_FIB_DREG, NFT_REG32_00);
  nftnl_rule_add_expr (rule, expr);
  add_cmp (rule, NFT_REG32_00, NFT_CMP_EQ, &local, sizeof local);
}

static void
add_reject_tcp_reset (struct nftnl_rule *rule)
{
  struct nftnl_expr *expr = nftnl_expr_alloc ("reject");

  nftnl_expr_set_u32 (expr, NFTNL_EXPR_REJECT_TYPE, NFT_REJECT_TCP_RST);
  nftnl_expr_set_u8 (expr, NFTNL_EXPR_REJECT_CODE, 0);
  nftnl_rule_add_expr (rule, expr);
}

static void
add_verdict (struct nftnl_rule *rule, guint32 verdict)
{
  struct nftnl_expr *expr = nftnl_expr_alloc ("immediate");

  nftnl_expr_set_u32 (expr, NFTNL_EXPR_IMM_DREG, NFT_REG_VERDICT);
  nftnl_expr_set_u32 (expr, NFTNL_EXPR_IMM_VERDICT, verdict);
  nftnl_rule_add_expr (rule, expr);
}

/* Rules: one function per rule. Set lookups come before the fib lookup, a
 * route lookup, so that only packets to gated ports pay for it. */

static struct nftnl_rule *
rule_new (const char *table, const char *chain)
{
  struct nftnl_rule *rule = nftnl_rule_alloc ();

  nftnl_rule_set_str (rule, NFTNL_RULE_TABLE, table);
  nftnl_rule_set_str (rule, NFTNL_RULE_CHAIN, chain);
  nftnl_rule_set_u32 (rule, NFTNL_RULE_FAMILY, NFPROTO_INET);
  return rule;
}

/* meta l4proto tcp meta skuid . tcp dport @cut fib daddr type local
 *   reject with tcp reset
 * Every packet, not just the SYN: these connections could not be destroyed.
 * It would cost every TCP packet the host sends a uid and a set lookup, yet
 * the cut set is nearly always empty: so the rule is not part of a reset
 * table but added, first in the chain, in the batch of the first cut
 * elements, and stays until the next reset. */
static struct nftnl_rule *
rule_output_cut (const char *table)
{
  struct nftnl_rule *rule = rule_new (table, SG_CHAIN_OUTPUT);

  add_l4proto_tcp (rule);
  add_uid_port_key (rule);
  add_lookup (rule, NFT_REG32_00, SG_SET_CUT, FALSE);
  add_daddr_is_local (rule);
  add_reject_tcp_reset (rule);
  return rule;
}

/* tcp flags & (syn | ack) == syn tcp dport @gated fib daddr type local
 *   meta skuid @always accept
 * Only the SYN is gated: ACKs and RSTs of TIME_WAIT and orphaned sockets carry
 * no socket uid, and rejecting them stalls connections (README, "How the
 * gate works"). */
static struct nftnl_rule *
rule_output_always (const char *table)
{
  struct nftnl_rule *rule = rule_new (table, SG_CHAIN_OUTPUT);

  add_l4proto_tcp (rule);
  add_tcp_syn_only (rule);
  add_payload_tcp (rule, 2, 2, NFT_REG32_00);
  add_lookup (rule, NFT_REG32_00, SG_SET_GATED, FALSE);
  add_meta (rule, NFT_META_SKUID, NFT_REG32_00);
  add_lookup (rule, NFT_REG32_00, SG_SET_ALWAYS, FALSE);
  add_daddr_is_local (rule);
  add_verdict (rule, NF_ACCEPT);
  return rule;
}

/* tcp flags & (syn | ack) == syn tcp dport @gated fib daddr type local
 *   meta skuid . tcp dport != @granted reject with tcp reset
 * A reset, not a drop: the refused client fails at once instead of retrying.
 * The port is looked up before the socket's uid is fetched, so that the
 * host's other new connections stop at the port. */
static struct nftnl_rule *
rule_output_deny (const char *table)
{
  struct nftnl_rule *rule = rule_new (table, SG_CHAIN_OUTPUT);

  add_l4proto_tcp (rule);
  add_tcp_syn_only (rule);
  /* The key of add_uid_port_key(), its port half loaded first. */
  add_payload_tcp (rule, 2, 2, NFT_REG32_01);
  add_lookup (rule, NFT_REG32_01, SG_SET_GATED, FALSE);
  add_meta (rule, NFT_META_SKUID, NFT_REG32_00);
  add_lookup (rule, NFT_REG32_00, SG_SET_GRANTED, TRUE);
  add_daddr_is_local (rule);
  add_reject_tcp_reset (rule);
  return rule;
}

/* iif != lo tcp dport @gated drop
 * lo is ifindex 1 in every network namespace. */
static struct nftnl_rule *
rule_input_remote (const char *table)
{
  struct nftnl_rule *rule = rule_new (table, SG_CHAIN_INPUT);
  guint32 lo = 1;

  add_l4proto_tcp (rule);
  add_meta (rule, NFT_META_IIF, NFT_REG32_00);
  add_cmp (rule, NFT_REG32_00, NFT_CMP_NEQ, &lo, sizeof lo);
  add_payload_tcp (rule, 2, 2, NFT_REG32_00);
  add_lookup (rule, NFT_REG32_00, SG_SET_GATED, FALSE);
  add_verdict (rule, NF_DROP);
  return rule;
}

/* @first: at the head of the chain, else at its end. */
typedef struct nftnl_rule *(*SgRuleFunc) (const char *table);

static void
batch_rule (SgBatch *batch, const char *table, SgRuleFunc rule_func, gboolean first,
            const char *what)
{
  g_autoptr (SgNftnlRule) rule = rule_func (table);
  char *at = batch_reserve (batch);
  guint16 nl_flags = first ? NLM_F_CREATE : NLM_F_APPEND | NLM_F_CREATE;

  struct nlmsghdr *nlh = nftnl_rule_nlmsg_build_hdr (at, NFT_MSG_NEWRULE, NFPROTO_INET, nl_flags,
                                                     batch_next_seq (batch));
  nftnl_rule_nlmsg_build_payload (nlh, rule);
  batch_commit (batch, nlh, table, g_strdup (what));
}

/* Keys */

static GByteArray *
pair_keys (guint32 uid, const guint16 *ports, gsize n_ports)
{
  GByteArray *keys = g_byte_array_sized_new ((guint) (n_ports * SG_PAIR_KEY_LEN));

  for (gsize i = 0; i < n_ports; i++)
    {
      guint8 key[SG_PAIR_KEY_LEN] = { 0 };
      guint16 port_be = htons (ports[i]);

      memcpy (key, &uid, sizeof uid);
      memcpy (key + 4, &port_be, sizeof port_be);
      g_byte_array_append (keys, key, sizeof key);
    }
  return keys;
}

/* Talking to the kernel */

static int
ack_attr_cb (const struct nlattr *attr, void *data)
{
  const char **msg = data;

  if (mnl_attr_get_type (attr) == NLMSGERR_ATTR_MSG
      && mnl_attr_validate (attr, MNL_TYPE_NUL_STRING) >= 0)
    *msg = mnl_attr_get_str (attr);
  return MNL_CB_OK;
}

static int
ack_cb (const struct nlmsghdr *nlh, void *data)
{
  SgBatch *batch = data;
  const struct nlmsgerr *err = mnl_nlmsg_get_payload (nlh);
  const char *ext_msg = NULL;

  if (mnl_nlmsg_get_payload_len (nlh) < sizeof (struct nlmsgerr))
    {
      errno = EBADMSG;
      return MNL_CB_ERROR;
    }

  if (nlh->nlmsg_flags & NLM_F_ACK_TLVS)
    {
      unsigned int offset = sizeof (struct nlmsgerr);
      if (!(nlh->nlmsg_flags & NLM_F_CAPPED))
        offset += err->msg.nlmsg_len - sizeof (struct nlmsghdr);
      if (offset < mnl_nlmsg_get_payload_len (nlh))
        mnl_attr_parse (nlh, offset, ack_attr_cb, &ext_msg);
    }

  /* seq_begin is the batch itself (a commit or capability failure). */
  guint32 seq = err->msg.nlmsg_seq;
  if (seq < batch->seq_begin || seq > batch->seq_begin + batch->msgs->len)
    return MNL_CB_OK;
  gint index = (gint) (seq - batch->seq_begin) - 1;

  if (index == (gint) batch->msgs->len - 1)
    batch->answered = TRUE;
  if (err->error != 0 && (batch->failed_errno == 0 || index < batch->failed_index))
    {
      batch->failed_errno = -err->error;
      batch->failed_index = index;
      g_free (batch->failed_ext_msg);
      batch->failed_ext_msg = g_strdup (ext_msg);
    }
  return MNL_CB_OK;
}

static guint64
monotonic_ns (void)
{
  struct timespec ts;

  clock_gettime (CLOCK_MONOTONIC, &ts);
  return (guint64) ts.tv_sec * G_GUINT64_CONSTANT (1000000000) + (guint64) ts.tv_nsec;
}

/* Reads the socket's send buffer size into gate->sndbuf. */
static void
read_sndbuf (SgNftGate *gate)
{
  int size = 0;
  socklen_t size_len = sizeof size;

  if (getsockopt (mnl_socket_get_fd (gate->nl), SOL_SOCKET, SO_SNDBUF, &size, &size_len) == 0)
    gate->sndbuf = (gsize) MAX (size, 0);
}

/* Makes the socket's send buffer hold @len bytes: a batch must go in one
 * message to be one transaction. Only a batch larger than any before (a
 * reset with many ports) needs a syscall here. */
static void
ensure_sndbuf (SgNftGate *gate, gsize len)
{
  int fd = mnl_socket_get_fd (gate->nl);
  gsize needed = len + SG_NETLINK_SNDBUF_RESERVE;

  if (gate->sndbuf >= needed)
    return;
  int size = (int) MIN (needed, (gsize) G_MAXINT / 2);
  if (setsockopt (fd, SOL_SOCKET, SO_SNDBUFFORCE, &size, sizeof size) < 0)
    setsockopt (fd, SOL_SOCKET, SO_SNDBUF, &size, sizeof size);
  read_sndbuf (gate);
}

/* Sends the batch and reads back the kernel's answers (as nftables'
 * mnl_batch_talk does). The kernel handles a batch inside sendmsg() and
 * queues its answers in order: a refusal of the batch as a whole (commit
 * failure) first, then one per refused message and the last message's ACK,
 * which therefore comes last. So reading stops at that ACK; without it (the
 * batch was refused before its messages were looked at) at an empty queue,
 * since nothing more will come. On refusal, fills batch->failed_* and
 * @error.
 *
 * gate->last_batch_ns is the kernel round trip: from sendmsg() of the built
 * batch to its last answer read and parsed. */
static gboolean
gate_talk (SgNftGate *gate, SgBatch *batch, GError **error)
{
  int fd = mnl_socket_get_fd (gate->nl);
  g_autofree char *buf = g_malloc (SG_RECV_BUFFER_SIZE);
  mnl_cb_t ctl_cb[NLMSG_MIN_TYPE] = { [NLMSG_ERROR] = ack_cb };

  batch_end (batch);
  gate->seq = batch->seq_begin + batch->msgs->len + 2;
  batch->failed_index = -1;
  ensure_sndbuf (gate, batch->buf->len);

  guint64 start = monotonic_ns ();
  if (mnl_socket_sendto (gate->nl, batch->buf->data, batch->buf->len) < 0)
    {
      int saved_errno = errno;
      g_set_error (error, G_IO_ERROR, g_io_error_from_errno (saved_errno),
                   "Could not send an nftables batch to the kernel: %s", g_strerror (saved_errno));
      return FALSE;
    }

  while (!batch->answered)
    {
      ssize_t n = recv (fd, buf, SG_RECV_BUFFER_SIZE, MSG_DONTWAIT);
      if (n < 0 && errno == EINTR)
        continue;
      if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
        break;
      if (n < 0)
        {
          int saved_errno = errno;
          g_set_error (error, G_IO_ERROR, g_io_error_from_errno (saved_errno),
                       "Could not read the kernel's answer to an nftables batch: %s",
                       g_strerror (saved_errno));
          return FALSE;
        }
      if (n == 0)
        break;
      if (mnl_cb_run2 (buf, (size_t) n, 0, gate->portid, NULL, batch, ctl_cb, G_N_ELEMENTS (ctl_cb))
          < 0)
        {
          int saved_errno = errno;
          g_set_error (error, G_IO_ERROR, G_IO_ERROR_INVALID_DATA,
                       "Could not parse the kernel's answer to an nftables batch: %s",
                       g_strerror (saved_errno));
          return FALSE;
        }
    }
  gate->last_batch_ns = monotonic_ns () - start;

  if (batch->failed_errno != 0)
    {
      const char *what = batch->failed_index < 0
                             ? "apply the batch"
                             : g_array_index (batch->msgs, SgBatchMsg, batch->failed_index).what;
      g_autofree char *kernel_says = batch->failed_ext_msg != NULL
                                         ? g_strdup_printf (" (kernel: %s)", batch->failed_ext_msg)
                                         : NULL;
      /* nfnetlink checks CAP_NET_ADMIN for the batch as a whole. */
      const char *hint = batch->failed_index < 0 && batch->failed_errno == EPERM
                             ? " (changing nftables needs CAP_NET_ADMIN)"
                             : "";
      const char *table = batch->failed_index < 0
                              ? SG_TABLE
                              : g_array_index (batch->msgs, SgBatchMsg, batch->failed_index).table;
      g_set_error (error, G_IO_ERROR, g_io_error_from_errno (batch->failed_errno),
                   "nftables table inet %s: could not %s: %s%s%s", table, what,
                   g_strerror (batch->failed_errno), kernel_says != NULL ? kernel_says : "", hint);
      return FALSE;
    }

  if (!batch->answered)
    {
      const SgBatchMsg *last = &g_array_index (batch->msgs, SgBatchMsg, batch->msgs->len - 1);
      g_set_error (error, G_IO_ERROR, G_IO_ERROR_FAILED,
                   "nftables table inet %s: the kernel did not acknowledge the request to %s",
                   last->table, last->what);
      return FALSE;
    }
  return TRUE;
}

/* Public API */

SgNftGate *
sg_nft_gate_new (SgTableMode mode, GError **error)
{
  g_autofree SgNftGate *gate = g_new0 (SgNftGate, 1);
  int on = 1;

  gate->mode = mode;
  gate->features = SG_NFT_KERNEL_ALL;
  gate->seq = (guint32) time (NULL);
  gate->nl = mnl_socket_open2 (NETLINK_NETFILTER, SOCK_CLOEXEC);
  if (gate->nl == NULL)
    {
      int saved_errno = errno;
      g_set_error (error, G_IO_ERROR, g_io_error_from_errno (saved_errno),
                   "Could not open a netfilter netlink socket: %s", g_strerror (saved_errno));
      return NULL;
    }
  if (mnl_socket_bind (gate->nl, 0, MNL_SOCKET_AUTOPID) < 0)
    {
      int saved_errno = errno;
      mnl_socket_close (gate->nl);
      g_set_error (error, G_IO_ERROR, g_io_error_from_errno (saved_errno),
                   "Could not bind a netfilter netlink socket: %s", g_strerror (saved_errno));
      return NULL;
    }
  gate->portid = mnl_socket_get_portid (gate->nl);
  read_sndbuf (gate);

  /* Extended ACKs carry the kernel's reason; capped ACKs keep them small.
   * Both are best effort: without them the errno still says what failed. */
  mnl_socket_setsockopt (gate->nl, NETLINK_EXT_ACK, &on, sizeof on);
  mnl_socket_setsockopt (gate->nl, NETLINK_CAP_ACK, &on, sizeof on);

  return g_steal_pointer (&gate);
}

void
sg_nft_gate_limit_kernel (SgNftGate *gate, SgNftKernelFeatures features)
{
  g_return_if_fail (gate != NULL);
  gate->features &= features;
  gate->limited |= SG_NFT_KERNEL_ALL & ~features;
}

/* The tables of @layout, the enforcing one first. */
static guint
layout_tables (SgNftLayout layout, const char *tables[2])
{
  if (layout == SG_NFT_LAYOUT_BACKSTOP)
    {
      tables[0] = SG_TABLE_OWNED;
      tables[1] = SG_TABLE;
      return 2;
    }
  tables[0] = SG_TABLE;
  return 1;
}

/* Why @feature is not used: refused by this kernel, or taken away. */
static const char *
lack_reason (SgNftGate *gate, SgNftKernelFeatures feature)
{
  if (gate->limited & feature)
    return "the gate was told to do without it";
  if (feature == SG_NFT_KERNEL_TABLE_PERSIST)
    return "this kernel refused it; it needs Linux 6.9 or later";
  return "this kernel refused it; it needs Linux 5.12 or later";
}

/* The layout for the mode and what the kernel offers, and why, in words. */
static gboolean
choose_layout (SgNftGate *gate, SgNftLayout *layout, char **why, GError **error)
{
  gboolean owner = (gate->features & SG_NFT_KERNEL_TABLE_OWNER) != 0;
  gboolean persist = owner && (gate->features & SG_NFT_KERNEL_TABLE_PERSIST) != 0;

  switch (gate->mode)
    {
    case SG_TABLE_MODE_PLAIN:
      *layout = SG_NFT_LAYOUT_PLAIN;
      *why = g_strdup ("TableMode=plain");
      return TRUE;
    case SG_TABLE_MODE_PERSISTENT:
      if (!persist)
        {
          g_set_error (
              error, G_IO_ERROR, G_IO_ERROR_NOT_SUPPORTED,
              "TableMode is persistent, but the nftables table cannot be owned and "
              "persistent: NFT_TABLE_F_%s: %s. Write TableMode=auto, which uses what "
              "this kernel offers",
              owner ? "PERSIST" : "OWNER",
              lack_reason (gate, owner ? SG_NFT_KERNEL_TABLE_PERSIST : SG_NFT_KERNEL_TABLE_OWNER));
          return FALSE;
        }
      *layout = SG_NFT_LAYOUT_PERSISTENT;
      *why = g_strdup ("TableMode=persistent");
      return TRUE;
    case SG_TABLE_MODE_BACKSTOP:
      if (!owner)
        {
          g_set_error (error, G_IO_ERROR, G_IO_ERROR_NOT_SUPPORTED,
                       "TableMode is backstop, but the nftables table cannot be owned by the "
                       "helper: NFT_TABLE_F_OWNER: %s. Write TableMode=auto, which uses what "
                       "this kernel offers",
                       lack_reason (gate, SG_NFT_KERNEL_TABLE_OWNER));
          return FALSE;
        }
      *layout = SG_NFT_LAYOUT_BACKSTOP;
      *why = g_strdup ("TableMode=backstop");
      return TRUE;
    case SG_TABLE_MODE_AUTO:
      if (persist)
        {
          *layout = SG_NFT_LAYOUT_PERSISTENT;
          *why = g_strdup ("TableMode=auto; this kernel has NFT_TABLE_F_PERSIST");
        }
      else if (owner)
        {
          *layout = SG_NFT_LAYOUT_BACKSTOP;
          *why = g_strdup_printf ("TableMode=auto; no NFT_TABLE_F_PERSIST (%s), but "
                                  "NFT_TABLE_F_OWNER works",
                                  lack_reason (gate, SG_NFT_KERNEL_TABLE_PERSIST));
        }
      else
        {
          *layout = SG_NFT_LAYOUT_PLAIN;
          *why = g_strdup_printf ("TableMode=auto; no NFT_TABLE_F_OWNER (%s)",
                                  lack_reason (gate, SG_NFT_KERNEL_TABLE_OWNER));
        }
      return TRUE;
    default:
      /* A mode this file does not know must not become a weaker table. */
      g_set_error (error, G_IO_ERROR, G_IO_ERROR_NOT_SUPPORTED,
                   "TableMode %s is not known to the nftables gate",
                   sg_table_mode_to_string (gate->mode));
      return FALSE;
    }
}

static char *
layout_describe (SgNftLayout layout, const char *why)
{
  switch (layout)
    {
    case SG_NFT_LAYOUT_PERSISTENT:
      return g_strdup_printf ("one table inet %s, owned by the helper and persistent: nobody else "
                              "can change or delete it, and it keeps the deny when the helper "
                              "is gone (%s)",
                              SG_TABLE, why);
    case SG_NFT_LAYOUT_BACKSTOP:
      return g_strdup_printf ("table inet %s, owned by the helper, which nobody else can change "
                              "while the helper lives, and the plain backstop table inet %s, "
                              "which keeps the deny when the helper is gone; a connection must "
                              "pass both (%s)",
                              SG_TABLE_OWNED, SG_TABLE, why);
    case SG_NFT_LAYOUT_PLAIN:
      return g_strdup_printf ("one plain table inet %s, which any root process can change or "
                              "delete; the helper puts it back when that happens, but the ports "
                              "are open for the milliseconds in between (%s)",
                              SG_TABLE, why);
    case SG_NFT_LAYOUT_NONE:
    default:
      g_assert_not_reached ();
    }
}

/* One table's contents: sets, elements, chains, rules (the cut rule comes
 * with the first cut: rule_output_cut). */
static void
batch_gate_table (SgBatch *batch, const char *table, GByteArray *port_keys, gsize n_ports,
                  const guint32 *always_uids, gsize n_always)
{
  batch_set (batch, table, SG_SET_GATED, SG_NFT_TYPE_INET_SERVICE, SG_PORT_KEY_LEN,
             SG_NFT_BYTEORDER_BIG);
  batch_set (batch, table, SG_SET_GRANTED, SG_NFT_TYPE_UID_SERVICE, SG_PAIR_KEY_LEN,
             SG_NFT_BYTEORDER_INVALID);
  batch_set (batch, table, SG_SET_ALWAYS, SG_NFT_TYPE_UID, SG_UID_KEY_LEN, SG_NFT_BYTEORDER_HOST);
  batch_set (batch, table, SG_SET_CUT, SG_NFT_TYPE_UID_SERVICE, SG_PAIR_KEY_LEN,
             SG_NFT_BYTEORDER_INVALID);

  batch_set_elems (batch, table, NFT_MSG_NEWSETELEM, SG_SET_GATED, port_keys->data,
                   sizeof (guint16), n_ports, "add the gated ports to set " SG_SET_GATED);
  batch_set_elems (batch, table, NFT_MSG_NEWSETELEM, SG_SET_ALWAYS, (const guint8 *) always_uids,
                   sizeof (guint32), n_always, "add the always-allowed uids to set " SG_SET_ALWAYS);

  batch_chain (batch, table, SG_CHAIN_OUTPUT, NF_INET_LOCAL_OUT);
  batch_chain (batch, table, SG_CHAIN_INPUT, NF_INET_LOCAL_IN);

  batch_rule (batch, table, rule_output_always, FALSE,
              "add the always-allow rule to chain " SG_CHAIN_OUTPUT);
  batch_rule (batch, table, rule_output_deny, FALSE, "add the deny rule to chain " SG_CHAIN_OUTPUT);
  batch_rule (batch, table, rule_input_remote, FALSE,
              "add the remote-drop rule to chain " SG_CHAIN_INPUT);
}

/* Both names, whatever the layout: "make sure it exists" then "delete it"
 * for each (so a missing one is no error), 4 messages before the first
 * create. */
#define SG_RESET_MSG_FIRST_CREATE 4

/* One batch: for both table names, NEWTABLE (no flags: an existing table,
 * an orphaned one included, is left as it is; a table owned by another live
 * socket is refused with EPERM) and DELTABLE; then, for each table of
 * @layout, NEWTABLE with its flags, its sets, elements, chains and rules. The
 * kernel applies it atomically, so the deny never disappears, and what
 * another layout left (a persistent orphan, a backstop) goes with it.
 *
 * When an owner's socket closes, the kernel keeps a PERSIST table but drops
 * its OWNER flag: the orphan has no owner, so anyone may delete it, and this
 * batch takes it over by replacing it. The kernel's own adoption (NEWTABLE
 * with OWNER|PERSIST on the orphan) is not used: on a plain table of the same
 * name it fails with EOPNOTSUPP, while this batch replaces that too. */
static SgBatch *
reset_batch (SgNftGate *gate, SgNftLayout layout, const guint16 *ports, gsize n_ports,
             const guint32 *always_uids, gsize n_always)
{
  SgBatch *batch = batch_new (gate);
  g_autoptr (GByteArray) port_keys = g_byte_array_new ();
  const char *names[] = { SG_TABLE, SG_TABLE_OWNED };
  const char *tables[2];
  guint n_tables = layout_tables (layout, tables);

  for (guint i = 0; i < G_N_ELEMENTS (names); i++)
    {
      batch_table (batch, names[i], NFT_MSG_NEWTABLE, NLM_F_CREATE, -1,
                   g_strdup_printf ("make sure table inet %s exists", names[i]));
      batch_table (batch, names[i], NFT_MSG_DELTABLE, 0, -1,
                   g_strdup_printf ("delete the old table inet %s", names[i]));
    }
  g_assert (batch->msgs->len == SG_RESET_MSG_FIRST_CREATE);

  for (gsize i = 0; i < n_ports; i++)
    {
      guint16 port_be = htons (ports[i]);
      g_byte_array_append (port_keys, (const guint8 *) &port_be, sizeof port_be);
    }

  for (guint i = 0; i < n_tables; i++)
    {
      guint32 flags = 0;
      if (layout == SG_NFT_LAYOUT_PERSISTENT)
        flags = NFT_TABLE_F_OWNER | NFT_TABLE_F_PERSIST;
      else if (g_str_equal (tables[i], SG_TABLE_OWNED))
        flags = NFT_TABLE_F_OWNER;
      batch_table (batch, tables[i], NFT_MSG_NEWTABLE, NLM_F_CREATE | NLM_F_EXCL, flags,
                   flags == 0 ? g_strdup_printf ("create table inet %s", tables[i])
                   : flags & NFT_TABLE_F_PERSIST
                       ? g_strdup_printf ("create table inet %s owned by this process and "
                                          "persistent (flags 0x%x)",
                                          tables[i], flags)
                       : g_strdup_printf ("create table inet %s owned by this process (flags "
                                          "0x%x)",
                                          tables[i], flags));
      batch_gate_table (batch, tables[i], port_keys, n_ports, always_uids, n_always);
    }
  return batch;
}

static void
set_layout (SgNftGate *gate, SgNftLayout layout, const char *why)
{
  gboolean changed = layout != gate->layout;

  gate->layout = layout;
  g_free (gate->layout_text);
  gate->layout_text = layout_describe (layout, why);
  if (!changed)
    return;
  /* A plain table that the mode did not ask for is a weaker gate. */
  if (layout == SG_NFT_LAYOUT_PLAIN && gate->mode != SG_TABLE_MODE_PLAIN)
    g_warning ("nftables layout: %s", gate->layout_text);
  else
    g_message ("nftables layout: %s", gate->layout_text);
}

gboolean
sg_nft_gate_reset (SgNftGate *gate, const guint16 *ports, gsize n_ports, const guint32 *always_uids,
                   gsize n_always, GError **error)
{
  g_return_val_if_fail (gate != NULL, FALSE);
  g_return_val_if_fail (ports != NULL || n_ports == 0, FALSE);
  g_return_val_if_fail (always_uids != NULL || n_always == 0, FALSE);

  /* Each round that fails on a flag takes a feature away, so this ends. */
  for (;;)
    {
      g_autoptr (GError) local_error = NULL;
      g_autofree char *why = NULL;
      SgNftLayout layout;

      if (!choose_layout (gate, &layout, &why, error))
        return FALSE;
      g_autoptr (SgBatch) batch = reset_batch (gate, layout, ports, n_ports, always_uids, n_always);
      if (gate_talk (gate, batch, &local_error))
        {
          gate->cut_used = gate->cut_rule = FALSE;
          set_layout (gate, layout, why);
          return TRUE;
        }

      const SgBatchMsg *failed = batch->failed_index >= 0
                                     ? &g_array_index (batch->msgs, SgBatchMsg, batch->failed_index)
                                     : NULL;
      /* The owner check on the table lookup: another live socket owns it. */
      if (failed != NULL && batch->failed_errno == EPERM
          && batch->failed_index < SG_RESET_MSG_FIRST_CREATE)
        {
          g_set_error (error, G_IO_ERROR, G_IO_ERROR_BUSY,
                       "nftables table inet %s is owned by another live process: another "
                       "seatgate-helper seems to own it (the kernel said: %s)",
                       failed->table, g_strerror (batch->failed_errno));
          return FALSE;
        }

      /* Kernels before 6.9 refuse the PERSIST flag, before 5.12 OWNER too
       * (nf_tables_newtable: flags outside NFT_TABLE_F_MASK are EOPNOTSUPP). */
      if (failed != NULL && failed->type == NFT_MSG_NEWTABLE && failed->table_flags != 0
          && (batch->failed_errno == EOPNOTSUPP || batch->failed_errno == EINVAL))
        {
          SgNftKernelFeatures lacking = failed->table_flags & NFT_TABLE_F_PERSIST
                                            ? SG_NFT_KERNEL_TABLE_PERSIST
                                            : SG_NFT_KERNEL_TABLE_OWNER;
          g_debug ("The kernel refused table flags 0x%x (%s); trying a table without them",
                   failed->table_flags, local_error->message);
          gate->features &= ~lacking;
          continue;
        }

      g_propagate_error (error, g_steal_pointer (&local_error));
      return FALSE;
    }
}

/* Removes pairs from @set_name whether they are there or not. DESTROYSETELEM
 * does that on kernels >= 6.3; before, DELSETELEM of a missing element fails
 * the batch, so the element is first added (CREATE, no EXCL) and then deleted
 * in the same batch: the transaction never shows it. */
static void
batch_remove_pairs (SgNftGate *gate, SgBatch *batch, const char *table, const char *set_name,
                    GByteArray *keys, gsize n_keys, const char *what)
{
  if (gate->features & SG_NFT_KERNEL_DESTROY_SETELEM)
    {
      batch_set_elems (batch, table, SG_NFT_MSG_DESTROYSETELEM, set_name, keys->data,
                       SG_PAIR_KEY_LEN, n_keys, what);
      return;
    }
  batch_set_elems (batch, table, NFT_MSG_NEWSETELEM, set_name, keys->data, SG_PAIR_KEY_LEN, n_keys,
                   what);
  batch_set_elems (batch, table, NFT_MSG_DELSETELEM, set_name, keys->data, SG_PAIR_KEY_LEN, n_keys,
                   what);
}

typedef enum
{
  SG_PAIRS_GRANT,
  SG_PAIRS_REVOKE,
  SG_PAIRS_CUT,
} SgPairsOp;

/* Before a reset the layout is unknown: the changes go to inet seatgate. */
static guint
gate_tables (SgNftGate *gate, const char *tables[2])
{
  return layout_tables (gate->layout, tables);
}

static void
batch_pairs_in (SgNftGate *gate, SgBatch *batch, const char *table, SgPairsOp op, guint32 uid,
                GByteArray *keys, gsize n_ports, const char *ports_str)
{
  g_autofree char *what = NULL;

  switch (op)
    {
    case SG_PAIRS_GRANT:
      what = g_strdup_printf ("add uid %u on port(s) %s to set %s", uid, ports_str, SG_SET_GRANTED);
      batch_set_elems (batch, table, NFT_MSG_NEWSETELEM, SG_SET_GRANTED, keys->data,
                       SG_PAIR_KEY_LEN, n_ports, what);
      if (!gate->cut_used)
        break;
      g_free (what);
      what
          = g_strdup_printf ("remove uid %u on port(s) %s from set %s", uid, ports_str, SG_SET_CUT);
      batch_remove_pairs (gate, batch, table, SG_SET_CUT, keys, n_ports, what);
      break;
    case SG_PAIRS_REVOKE:
      what = g_strdup_printf ("remove uid %u on port(s) %s from set %s", uid, ports_str,
                              SG_SET_GRANTED);
      batch_remove_pairs (gate, batch, table, SG_SET_GRANTED, keys, n_ports, what);
      break;
    case SG_PAIRS_CUT:
      /* Until the kernel confirmed a cut, the rule may be missing: send it
       * (again) with the elements. A second copy would do no harm. */
      if (!gate->cut_rule)
        batch_rule (batch, table, rule_output_cut, TRUE,
                    "add the cut rule to chain " SG_CHAIN_OUTPUT);
      what = g_strdup_printf ("add uid %u on port(s) %s to set %s", uid, ports_str, SG_SET_CUT);
      batch_set_elems (batch, table, NFT_MSG_NEWSETELEM, SG_SET_CUT, keys->data, SG_PAIR_KEY_LEN,
                       n_ports, what);
      break;
    default:
      g_assert_not_reached ();
    }
}

/* One batch for every table of the layout: they never disagree. */
static SgBatch *
pairs_batch (SgNftGate *gate, SgPairsOp op, guint32 uid, const guint16 *ports, gsize n_ports)
{
  SgBatch *batch = batch_new (gate);
  g_autoptr (GByteArray) keys = pair_keys (uid, ports, n_ports);
  g_autofree char *ports_str = sg_ports_to_string (ports, n_ports);
  const char *tables[2];
  guint n_tables = gate_tables (gate, tables);

  if (op == SG_PAIRS_CUT)
    gate->cut_used = TRUE;
  for (guint i = 0; i < n_tables; i++)
    batch_pairs_in (gate, batch, tables[i], op, uid, keys, n_ports, ports_str);
  return batch;
}

static gboolean
gate_change_pairs (SgNftGate *gate, SgPairsOp op, guint32 uid, const guint16 *ports, gsize n_ports,
                   GError **error)
{
  g_autoptr (GError) local_error = NULL;

  g_return_val_if_fail (gate != NULL, FALSE);
  g_return_val_if_fail (ports != NULL || n_ports == 0, FALSE);

  if (n_ports == 0)
    return TRUE;

  g_autoptr (SgBatch) batch = pairs_batch (gate, op, uid, ports, n_ports);
  gboolean ok = gate_talk (gate, batch, &local_error);

  /* A kernel older than 6.3 does not know DESTROYSETELEM (nfnetlink answers
   * EINVAL for an unknown message type): fall back, once and for all. */
  if (!ok && (gate->features & SG_NFT_KERNEL_DESTROY_SETELEM) && batch->failed_index >= 0
      && g_array_index (batch->msgs, SgBatchMsg, batch->failed_index).type
             == SG_NFT_MSG_DESTROYSETELEM
      && (batch->failed_errno == EINVAL || batch->failed_errno == EOPNOTSUPP))
    {
      g_debug ("The kernel refused DESTROYSETELEM (%s); deleting elements by adding them first",
               g_strerror (batch->failed_errno));
      gate->features &= ~SG_NFT_KERNEL_DESTROY_SETELEM;
      g_clear_error (&local_error);
      g_autoptr (SgBatch) retry = pairs_batch (gate, op, uid, ports, n_ports);
      ok = gate_talk (gate, retry, &local_error);
    }

  if (!ok)
    {
      g_propagate_error (error, g_steal_pointer (&local_error));
      return FALSE;
    }
  if (op == SG_PAIRS_CUT)
    gate->cut_rule = TRUE;
  return TRUE;
}

gboolean
sg_nft_gate_grant (SgNftGate *gate, guint32 uid, const guint16 *ports, gsize n_ports,
                   GError **error)
{
  return gate_change_pairs (gate, SG_PAIRS_GRANT, uid, ports, n_ports, error);
}

gboolean
sg_nft_gate_revoke (SgNftGate *gate, guint32 uid, const guint16 *ports, gsize n_ports,
                    GError **error)
{
  return gate_change_pairs (gate, SG_PAIRS_REVOKE, uid, ports, n_ports, error);
}

gboolean
sg_nft_gate_cut (SgNftGate *gate, guint32 uid, const guint16 *ports, gsize n_ports, GError **error)
{
  return gate_change_pairs (gate, SG_PAIRS_CUT, uid, ports, n_ports, error);
}

gboolean
sg_nft_gate_flush_grants (SgNftGate *gate, GError **error)
{
  g_return_val_if_fail (gate != NULL, FALSE);

  g_autoptr (SgBatch) batch = batch_new (gate);
  const char *tables[2];
  guint n_tables = gate_tables (gate, tables);

  for (guint i = 0; i < n_tables; i++)
    {
      g_autoptr (SgNftnlSet) set = nftnl_set_alloc ();
      char *at = batch_reserve (batch);

      /* DELSETELEM without an element list empties the whole set. */
      nftnl_set_set_str (set, NFTNL_SET_TABLE, tables[i]);
      nftnl_set_set_str (set, NFTNL_SET_NAME, SG_SET_GRANTED);
      nftnl_set_set_u32 (set, NFTNL_SET_FAMILY, NFPROTO_INET);
      struct nlmsghdr *nlh
          = nftnl_nlmsg_build_hdr (at, NFT_MSG_DELSETELEM, NFPROTO_INET, 0, batch_next_seq (batch));
      nftnl_set_elems_nlmsg_build_payload (nlh, set);
      batch_commit (batch, nlh, tables[i], g_strdup ("empty set " SG_SET_GRANTED));
    }
  return gate_talk (gate, batch, error);
}

gboolean
sg_nft_gate_is_owned (SgNftGate *gate)
{
  g_return_val_if_fail (gate != NULL, FALSE);
  return gate->layout == SG_NFT_LAYOUT_PERSISTENT || gate->layout == SG_NFT_LAYOUT_BACKSTOP;
}

gboolean
sg_nft_gate_is_persistent (SgNftGate *gate)
{
  g_return_val_if_fail (gate != NULL, FALSE);
  return gate->layout == SG_NFT_LAYOUT_PERSISTENT;
}

SgNftLayout
sg_nft_gate_get_layout (SgNftGate *gate)
{
  g_return_val_if_fail (gate != NULL, SG_NFT_LAYOUT_NONE);
  return gate->layout;
}

const char *
sg_nft_gate_describe_layout (SgNftGate *gate)
{
  g_return_val_if_fail (gate != NULL, NULL);
  return gate->layout_text;
}

guint32
sg_nft_gate_get_portid (SgNftGate *gate)
{
  g_return_val_if_fail (gate != NULL, 0);
  return gate->portid;
}

guint64
sg_nft_gate_last_batch_ns (SgNftGate *gate)
{
  g_return_val_if_fail (gate != NULL, 0);
  return gate->last_batch_ns;
}

/* Closing the socket is what the kernel acts on: an owned, persistent table
 * becomes an orphan (still denying) for the next helper to take over; an
 * owned table that is not persistent goes, leaving the backstop. */
void
sg_nft_gate_free (SgNftGate *gate)
{
  if (gate == NULL)
    return;
  mnl_socket_close (gate->nl);
  g_free (gate->layout_text);
  g_free (gate);
}
