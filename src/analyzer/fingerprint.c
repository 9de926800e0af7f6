/*
 * fingerprint: one pass over a statement's text; see fingerprint.h.
 *
 * Three layers, each linear in the input:
 *   lexer   - fp_lex.c: PostgreSQL's lexical rules (scan.l), yields one token
 *             at a time and remembers the first slash-star comment as the tag;
 *   normalizer - turns tokens into the normalized stream: literals become a
 *             placeholder, constant lists collapse, per-call names become "_";
 *   hash    - hierarchical: every ( ... ) or [ ... ] group has its own running
 *             hash, folded into its parent as one value when it closes. So a
 *             group can be replaced (collapsed) or dropped (a repeated VALUES
 *             row) when its end is seen, without buffering or re-reading, and
 *             the display text is rolled back by truncating it to a mark.
 */
#include "analyzer/fingerprint.h"

#include "analyzer/fp_lex.h"

#include <string.h>

/* Salts that keep token classes apart ("select" the word vs "select" quoted). */
#define V_SEED 0x5047534946540002ULL /* "PGSIFT" + format version 2 */
#define V_CONST 0x165667b19e3779f9ULL
#define V_OP 0xd6e8feb86659fd93ULL
#define V_NAME 0xa0761d6478bd642fULL
#define V_GROUP 0xe7037ed1a0b428dbULL
#define V_CONSTLIST 0x8ebc6af09c88c6e3ULL
#define V_CONSTROW 0x589965cc75374cc3ULL
#define V_ROW 0x1d8e4e27c47d124fULL

static uint64_t finish(uint64_t h)
{
	h ^= h >> 30;
	h *= 0xbf58476d1ce4e5b9ULL;
	h ^= h >> 27;
	h *= 0x94d049bb133111ebULL;
	return h ^ (h >> 31);
}

/* ---- normalizer ---- */

enum frame_kind {
	FK_GROUP, /* anything else: call arguments, subquery, column list */
	FK_LIST,  /* IN ( ... ), EXECUTE name ( ... ): constant lists collapse */
	FK_ARRAY, /* ARRAY[ ... ]: a constant array becomes one placeholder */
	FK_ROW,   /* a VALUES row */
	FK_TUPLE, /* ( ... ) or [ ... ] as an element of one of the above */
};

/* Is the current element of a list a constant? A constant is a literal,
 * NULL, DEFAULT or a constant tuple, optionally cast ("$1::int[]"). */
enum elem_state { ES_START, ES_CONST, ES_CAST, ES_TYPE, ES_BAD };

/* Display state to roll back to. */
struct mark {
	size_t tlen;
	unsigned nparams;
	uint8_t last;
};

struct frame {
	uint64_t sig;   /* hash of the tokens inside */
	struct mark mark; /* before the opening token (before ARRAY for FK_ARRAY) */
	uint8_t kind, elem, open;
	uint16_t cast_br; /* '[' open inside a cast: "::int[]" */
	unsigned nelem;
	bool sel; /* in a select or RETURNING list: AS name is an alias */
	/* VALUES rows directly inside this frame */
	bool values, have_row, comma;
	uint64_t prev_row;
	struct mark comma_mark;
};

/* statement head rules (depth 0): names that change per call, SET values */
enum head {
	H_NONE, H_NAME, H_RELEASE, H_ROLLBACK, H_ROLLBACK_TO, H_PREPARE, H_EXECUTE,
	H_EXEC_ARGS, H_DEALLOC, H_CLOSE, H_FETCH, H_SET, H_SET_SESSION, H_SET_TIME, H_SETVAL,
	H_NOISE, H_CREATE, H_TEMP_TABLE,
};

/* flags about the previous token */
enum { P_IN = 1, P_VALUES = 2, P_ROWCLOSE = 4 };

struct norm {
	struct fp_lex lx;
	struct fp_result *out;
	bool text;          /* the display text is wanted */
	struct fp_text t;   /* the display text, in out->text */
	unsigned nparams;
	unsigned depth, overflow;
	unsigned ntok;      /* tokens; exact only while a head rule is pending (run()) */
	enum head head;
	bool set_const;
	bool temp;          /* CREATE [GLOBAL|LOCAL] TEMP[ORARY] */
	bool attn;          /* see attn_update() */
	bool pending_semi, pending_array;
	bool pending_as;    /* AS in a select list: an alias name may follow */
	struct mark array_mark;
	unsigned prev, cur; /* P_* */
	struct frame *top;  /* &fr[depth] */
	struct frame fr[FP_DEPTH_MAX + 1];
};

static inline struct frame *top(struct norm *n)
{
	return n->top;
}

static inline void emit(struct norm *n, uint64_t v)
{
	struct frame *f = top(n);
	f->sig = fp_mix(f->sig, v);
}

static struct mark mark_now(const struct norm *n)
{
	struct mark m = {n->t.len, n->nparams, n->t.last};
	return m;
}

static void rollback(struct norm *n, struct mark m)
{
	n->t.len = m.tlen;
	if (n->t.valid > m.tlen)
		n->t.valid = m.tlen;
	n->nparams = m.nparams;
	n->t.last = m.last;
}

/* Everything that builds the display text goes through show() and
 * show_param(): with FP_OPT_NO_TEXT it costs one predictable branch. */
static inline void show(struct norm *n, const char *s, size_t k, int mode, uint8_t cls)
{
	if (n->text)
		fp_text_show(&n->t, s, k, mode, cls, n->lx.first, n->lx.s + n->lx.len);
}

static inline void show_tok(struct norm *n, uint8_t cls)
{
	struct fp_lex *lx = &n->lx;
	show(n, lx->s + lx->start, lx->end - lx->start, M_RAW, cls);
}

static inline void show_param(struct norm *n)
{
	n->nparams++;
	if (n->text)
		fp_text_param(&n->t, n->nparams);
}

/* fp_word_hash() of a lower-case word of up to 16 bytes given as a string
 * literal: a constant the compiler folds (no strlen, no call per use) */
#define WC_LEN(w) (sizeof(w) - 1)
#define WC_B(w, i) ((i) < WC_LEN(w) ? (uint64_t)(unsigned char)(w)[(i) < WC_LEN(w) ? (i) : 0] << (8 * ((i) % 8)) : 0)
#define WC_8(w, o)                                                                                  \
	(WC_B(w, (o)) | WC_B(w, (o) + 1) | WC_B(w, (o) + 2) | WC_B(w, (o) + 3) | WC_B(w, (o) + 4) | \
	 WC_B(w, (o) + 5) | WC_B(w, (o) + 6) | WC_B(w, (o) + 7))
#define word_const(w)                                                                         \
	(WC_LEN(w) <= 8 ? fp_word_short(WC_LEN(w), WC_8(w, 0))                                    \
			: fp_mix(fp_mix(fp_mix(V_WORD, WC_8(w, 0)), WC_8(w, 8)), WC_LEN(w)))
_Static_assert(sizeof("savepoint") <= 17, "word_const() takes up to 16 bytes");

/* a word given as a string literal, hashed and shown */
#define show_word_text(n, w)                              \
	do {                                              \
		emit((n), word_const(w));                 \
		show((n), (w), WC_LEN(w), M_RAW, D_WORD); \
	} while (0)

/* ---- list element tracking ---- */

static inline void elem_const(struct frame *f)
{
	if (f->elem != ES_BAD)
		f->elem = f->elem == ES_START ? ES_CONST : ES_BAD;
}

static inline void elem_type(struct frame *f)
{
	if (f->elem != ES_BAD)
		f->elem = (f->elem == ES_CAST || f->elem == ES_TYPE) ? ES_TYPE : ES_BAD;
}

static inline void elem_step(struct frame *f, enum tok_type t)
{
	if (f->elem == ES_BAD || f->cast_br)
		return;
	if (t == TK_CAST && (f->elem == ES_CONST || f->elem == ES_TYPE))
		f->elem = ES_CAST;
	else if (t == TK_DOT && f->elem == ES_TYPE)
		f->elem = ES_CAST;
	else if (t == TK_COMMA && (f->elem == ES_CONST || f->elem == ES_TYPE)) {
		f->elem = ES_START;
		f->nelem++;
	} else
		f->elem = ES_BAD;
}

static void push(struct norm *n, uint8_t kind, struct mark m)
{
	struct frame *f = n->top = &n->fr[++n->depth];
	f->sig = V_GROUP;
	f->mark = m;
	f->kind = kind;
	f->elem = kind == FK_GROUP ? ES_BAD : ES_START;
	f->open = (uint8_t)n->lx.s[n->lx.start];
	f->cast_br = 0;
	f->nelem = 0;
	f->values = f->have_row = f->comma = false;
	f->sel = false;
}

/* ---- tokens ---- */

static inline void tok_const(struct norm *n)
{
	elem_const(top(n));
	emit(n, V_CONST);
	show_param(n);
}

static inline void show_word(struct norm *n, const char *text, size_t k)
{
	show(n, text, k, M_FOLD, (n->lx.kw & KF_PSPACE) ? D_OTHER : D_WORD);
}

static void flush_array(struct norm *n)
{
	n->pending_array = false;
	emit(n, word_const("array"));
	top(n)->elem = ES_BAD; /* ARRAY(subquery) or a column named array */
}

static void tok_word(struct norm *n)
{
	struct fp_lex *lx = &n->lx;
	struct frame *f = top(n);
	unsigned id = KW_ID(lx->kw);
	if (id == KW_TRUE || id == KW_FALSE) {
		tok_const(n);
		return;
	}
	if (lx->kw & (KF_SEL | KF_ENDSEL))
		f->sel = (lx->kw & KF_SEL) != 0;
	if (id == KW_ARRAY) {
		/* hashed when the next token shows whether ARRAY[...] follows */
		n->pending_array = true;
		n->array_mark = mark_now(n);
	} else if (id == KW_AS && f->sel) {
		/* hashed only if no alias name follows (see step_slow()) */
		n->pending_as = true;
		f->elem = ES_BAD;
	} else {
		if (id == KW_NULL || id == KW_DEFAULT)
			elem_const(f);
		else if ((lx->kw & (KF_EXPR | KF_PSPACE | KF_RESERVED)) && id != KW_WITH)
			f->elem = ES_BAD; /* not part of a type name ("timestamp with time zone") */
		else
			elem_type(f);
		emit(n, lx->h);
	}
	show_word(n, lx->s + lx->start, lx->end - lx->start);
	if (id == KW_IN)
		n->cur |= P_IN;
	if (id == KW_VALUES) {
		n->cur |= P_VALUES;
		f->values = true;
		f->have_row = f->comma = false;
	}
}

/* Reserved words quoted stay distinct; any other "lowercase_name" is the
 * same identifier as the bare word (the parser sees no difference): the
 * lexer has chosen the hash. */
static inline void tok_qident(struct norm *n)
{
	struct fp_lex *lx = &n->lx;
	elem_type(top(n));
	emit(n, lx->h);
	show(n, lx->s + lx->start, lx->end - lx->start, M_SAFE, D_WORD);
}

static void tok_open(struct norm *n)
{
	struct fp_lex *lx = &n->lx;
	struct frame *p = top(n);
	char ch = lx->s[lx->start];
	struct mark m = mark_now(n);
	uint8_t kind = FK_GROUP;
	if (n->pending_array && ch == '[') {
		kind = FK_ARRAY;
		m = n->array_mark;
		n->pending_array = false;
	} else if (ch == '[' && p->elem == ES_TYPE && !n->overflow) {
		p->cast_br++;
		emit(n, V_OP ^ '[');
		show_tok(n, D_NONE);
		return;
	} else if (ch == '(' && (n->prev & P_IN)) {
		kind = FK_LIST;
	} else if (ch == '(' && n->head == H_EXEC_ARGS && n->depth == 0) {
		kind = FK_LIST;
	} else if (ch == '(' && p->values && ((n->prev & P_VALUES) || p->comma)) {
		kind = FK_ROW;
	} else if (p->elem == ES_START) {
		kind = FK_TUPLE;
	} else if (!(p->elem == ES_TYPE && ch == '(')) {
		p->elem = ES_BAD; /* "(" after a cast type is its typmod */
	}
	if (n->overflow || n->depth == FP_DEPTH_MAX) {
		n->overflow++;
		p->elem = ES_BAD;
		if (kind == FK_ARRAY)
			flush_array(n);
		emit(n, V_OP ^ (unsigned char)ch);
		show_tok(n, D_NONE);
		return;
	}
	push(n, kind, m);
	show_tok(n, D_NONE);
}

/* A closing VALUES row: folded away when it equals the previous row. */
static void close_row(struct norm *n, const struct frame *f, bool isconst)
{
	struct frame *p = top(n);
	uint64_t v = isconst ? V_CONSTROW : fp_mix(V_ROW, f->sig);
	n->cur |= P_ROWCLOSE;
	if (p->have_row && p->prev_row == v && p->comma) {
		rollback(n, p->comma_mark);
		p->comma = false;
		n->out->flags |= FP_COLLAPSED;
		return;
	}
	if (p->comma)
		emit(n, V_OP ^ ',');
	p->comma = false;
	emit(n, v);
	p->prev_row = v;
	p->have_row = true;
	if (isconst) {
		if (f->nelem > 1)
			n->out->flags |= FP_COLLAPSED;
		rollback(n, f->mark);
		show(n, "(", 1, M_RAW, D_NONE);
		show_param(n);
	}
	show(n, ")", 1, M_RAW, D_CLOSE);
}

static void tok_close(struct norm *n)
{
	struct fp_lex *lx = &n->lx;
	char ch = lx->s[lx->start];
	if (n->overflow || n->depth == 0 || (ch == ']' && top(n)->cast_br)) {
		if (n->overflow)
			n->overflow--;
		else if (n->depth)
			top(n)->cast_br--;
		else
			top(n)->elem = ES_BAD;
		emit(n, V_OP ^ (unsigned char)ch);
		show_tok(n, D_CLOSE);
		return;
	}
	struct frame f = n->fr[n->depth--];
	n->top = &n->fr[n->depth];
	struct frame *p = top(n);
	bool isconst = f.elem == ES_CONST || f.elem == ES_TYPE;
	f.nelem += isconst;
	if (f.kind == FK_ROW) {
		close_row(n, &f, isconst);
		return;
	}
	if (isconst && (f.kind == FK_LIST || f.kind == FK_ARRAY)) {
		if (f.nelem > 1)
			n->out->flags |= FP_COLLAPSED;
		rollback(n, f.mark);
		if (f.kind == FK_ARRAY) {
			elem_const(p);
			emit(n, V_CONST);
			show_param(n);
			return;
		}
		emit(n, V_CONSTLIST);
		show(n, "(", 1, M_RAW, D_NONE);
		show_param(n);
		show(n, ")", 1, M_RAW, D_CLOSE);
		return;
	}
	if (f.kind == FK_ARRAY)
		emit(n, word_const("array"));
	if (f.kind == FK_TUPLE && isconst)
		elem_const(p);
	else if (f.kind == FK_TUPLE || f.kind == FK_ARRAY)
		p->elem = ES_BAD;
	emit(n, fp_mix(V_GROUP ^ f.open, f.sig));
	show_tok(n, D_CLOSE);
}

static inline void tok_comma(struct norm *n)
{
	struct frame *f = top(n);
	elem_step(f, TK_COMMA);
	if (f->values && (n->prev & P_ROWCLOSE) && !f->comma) {
		/* hashed only if the next row is not folded into the previous */
		f->comma = true;
		f->comma_mark = mark_now(n);
	} else {
		emit(n, V_OP ^ ',');
	}
	show_tok(n, D_OTHER);
}

static inline void tok_other(struct norm *n)
{
	struct fp_lex *lx = &n->lx;
	elem_step(top(n), lx->type);
	switch (lx->type) {
	case TK_DOT:
	case TK_CAST:
		emit(n, V_OP ^ (lx->type == TK_DOT ? '.' : ':'));
		show_tok(n, D_NONE);
		return;
	case TK_SEMI: /* inside parentheses: a plain token */
		emit(n, V_OP ^ ';');
		show_tok(n, D_OTHER);
		return;
	default:
		break;
	}
	emit(n, V_OP ^ lx->h);
	if (lx->end - lx->start == 2 && lx->s[lx->start] == '!' && lx->s[lx->start + 1] == '=')
		show(n, "<>", 2, M_RAW, D_OTHER);
	else /* a stray control byte as '?', as the lexer hashed it */
		show(n, lx->s + lx->start, lx->end - lx->start, M_SAFE, D_OTHER);
}

/* ---- statement heads ---- */

static enum fp_kind kind_of(unsigned id)
{
	switch (id) {
	case KW_SELECT: case KW_VALUES: case KW_TABLE: return FP_KIND_SELECT;
	case KW_INSERT: return FP_KIND_INSERT;
	case KW_UPDATE: return FP_KIND_UPDATE;
	case KW_DELETE: return FP_KIND_DELETE;
	case KW_MERGE: return FP_KIND_MERGE;
	case KW_WITH: return FP_KIND_WITH;
	case KW_COPY: return FP_KIND_COPY;
	case KW_CREATE: case KW_ALTER: case KW_DROP: case KW_TRUNCATE: case KW_COMMENT:
	case KW_GRANT: case KW_REVOKE: case KW_REINDEX: case KW_REFRESH: case KW_SECURITY:
	case KW_IMPORT: return FP_KIND_DDL;
	case KW_BEGIN: case KW_START: case KW_COMMIT: case KW_END: case KW_ROLLBACK:
	case KW_ABORT: case KW_SAVEPOINT: case KW_RELEASE: return FP_KIND_TXN;
	case KW_SET: case KW_RESET: case KW_DISCARD: return FP_KIND_SET;
	case KW_PREPARE: case KW_EXECUTE: case KW_DEALLOCATE: return FP_KIND_PREPARED;
	case KW_DECLARE: case KW_FETCH: case KW_MOVE: case KW_CLOSE: return FP_KIND_CURSOR;
	case KW_LISTEN: case KW_UNLISTEN: case KW_NOTIFY: return FP_KIND_LISTEN;
	default: return FP_KIND_OTHER;
	}
}

static enum head head_of(unsigned id)
{
	switch (id) {
	case KW_SAVEPOINT: case KW_DECLARE: return H_NAME;
	case KW_RELEASE: return H_RELEASE;
	case KW_ROLLBACK: case KW_ABORT: return H_ROLLBACK;
	case KW_PREPARE: return H_PREPARE;
	case KW_EXECUTE: return H_EXECUTE;
	case KW_DEALLOCATE: return H_DEALLOC;
	case KW_CLOSE: return H_CLOSE;
	case KW_FETCH: case KW_MOVE: return H_FETCH;
	case KW_SET: return H_SET;
	case KW_BEGIN: case KW_COMMIT: case KW_END: return H_NOISE;
	case KW_CREATE: return H_CREATE;
	default: return H_NONE;
	}
}

/* The first word. END and ABORT are shown (and hashed) as COMMIT and
 * ROLLBACK: the parser makes the same statement of them. */
static void first_word(struct norm *n)
{
	unsigned id = KW_ID(n->lx.kw);
	n->out->kind = kind_of(id);
	n->head = head_of(id);
	if (id == KW_END)
		show_word_text(n, "commit");
	else if (id == KW_ABORT)
		show_word_text(n, "rollback");
	else
		tok_word(n);
}

/* The first word of a statement that needs none of step_slow()'s rules
 * (those of the KF_ACT words, END, ABORT) but its kind and head: applied
 * here, with the running hash *h of the top frame. False if it needs them. */
static bool first_word_fast(struct norm *n, const struct fp_word *w, uint64_t *h)
{
	unsigned id = KW_ID(w->kw);
	if ((w->kw & KF_ACT) || id == KW_END || id == KW_ABORT)
		return false;
	n->ntok = 1;
	n->out->kind = kind_of(id);
	n->head = head_of(id);
	if (w->kw & (KF_SEL | KF_ENDSEL))
		n->fr[0].sel = (w->kw & KF_SEL) != 0;
	*h = fp_mix(*h, w->h);
	n->attn = n->head != H_NONE;
	return true;
}

static void strip_name(struct norm *n)
{
	n->out->flags |= FP_NAME_STRIPPED;
	emit(n, V_NAME);
	show(n, "_", 1, M_RAW, D_WORD);
}

static bool is_fetch_word(unsigned id)
{
	return id == KW_NEXT || id == KW_PRIOR || id == KW_FIRST || id == KW_LAST ||
	       id == KW_ABSOLUTE || id == KW_RELATIVE || id == KW_ALL || id == KW_FORWARD ||
	       id == KW_BACKWARD || id == KW_FROM || id == KW_IN;
}

static bool tok_word_is(const struct fp_lex *lx, const char *w)
{
	size_t k = strlen(w);
	return lx->type == TK_WORD && lx->end - lx->start == k && fp_word_eq(lx->s + lx->start, w, k);
}

/* SET name {=|TO} v1, v2 ...: bare words are values (the parser makes
 * string constants of them); a run of constants shows as one placeholder. */
static bool head_setval(struct norm *n, enum tok_type t, unsigned id)
{
	bool value = t == TK_CONST || t == TK_QIDENT ||
		     (t == TK_WORD && id != KW_DEFAULT && !tok_word_is(&n->lx, "local"));
	if (t == TK_COMMA && n->set_const)
		return true;
	if (!value) {
		n->set_const = false;
		return false;
	}
	if (!n->set_const) {
		n->set_const = true;
		emit(n, V_CONST);
		show_param(n);
	}
	return true;
}


/* SET [SESSION] name {=|TO} ..., SET TIME ZONE v, SET ROLE r: the parser
 * makes SET timezone = v of TIME ZONE, and SESSION is the default scope. */
static bool head_set(struct norm *n)
{
	struct fp_lex *lx = &n->lx;
	bool eq = lx->type == TK_OP && lx->end - lx->start == 1 && lx->s[lx->start] == '=';
	if (n->head == H_SET_SESSION) {
		n->head = H_SET;
		if (tok_word_is(lx, "authorization") || tok_word_is(lx, "characteristics")) {
			emit(n, word_const("session")); /* shown already */
			n->head = tok_word_is(lx, "authorization") ? H_SETVAL : H_NONE;
			return false;
		}
	} else if (n->head == H_SET_TIME) {
		n->head = H_SET;
		if (tok_word_is(lx, "zone")) {
			show_word_text(n, "timezone");
			eq = true;
		} else {
			show_word_text(n, "time");
		}
	} else if (n->ntok == 2 && tok_word_is(lx, "session")) {
		/* the default scope: not hashed, but shown, so that the text
		 * fingerprints as the statement ("SET SESSION SESSION ...") */
		n->head = H_SET_SESSION;
		show_word(n, lx->s + lx->start, lx->end - lx->start);
		return true;
	}
	if (n->head == H_SET && n->ntok <= 3 && tok_word_is(lx, "time")) {
		n->head = H_SET_TIME;
		return true;
	}
	if (eq || KW_ID(lx->kw) == KW_TO || tok_word_is(lx, "role")) {
		n->head = H_SETVAL; /* SET x TO v is SET x = v */
		if (tok_word_is(lx, "role"))
			return false;
		emit(n, V_OP ^ fp_fnv(FNV_OFF, "=", 1));
		show(n, "=", 1, M_RAW, D_OTHER);
		return true;
	}
	return false;
}

/* RELEASE [SAVEPOINT] x, ROLLBACK TO [SAVEPOINT] x: the parser drops the
 * noise word; it is shown always. */
static bool head_savepoint(struct norm *n, bool name, unsigned id)
{
	n->head = H_NONE;
	if (!name)
		return false;
	show_word_text(n, "savepoint");
	if (id == KW_SAVEPOINT)
		n->head = H_NAME;
	else
		strip_name(n);
	return true;
}

/* CREATE [GLOBAL|LOCAL] TEMP|TEMPORARY TABLE [IF NOT EXISTS] name: the
 * name of a temporary table is often made per call (tmp_ids_8731), like a
 * cursor's; libpg_query leaves it out too. */
static bool head_create(struct norm *n, unsigned id)
{
	struct fp_lex *lx = &n->lx;
	if (n->head == H_CREATE) {
		bool temp = tok_word_is(lx, "temp") || tok_word_is(lx, "temporary");
		n->temp |= temp;
		if (temp || tok_word_is(lx, "global") || tok_word_is(lx, "local"))
			return false;
		n->head = id == KW_TABLE && n->temp ? H_TEMP_TABLE : H_NONE;
		return false;
	}
	if (tok_word_is(lx, "if") || tok_word_is(lx, "not") || tok_word_is(lx, "exists"))
		return false;
	n->head = H_NONE;
	if (lx->type != TK_WORD && lx->type != TK_QIDENT)
		return false;
	strip_name(n);
	return true;
}

/* Applies the rule of the current head state to a depth-0 token; true when
 * the token was consumed. */
static bool head_rule(struct norm *n)
{
	struct fp_lex *lx = &n->lx;
	enum tok_type t = lx->type;
	unsigned id = t == TK_WORD ? KW_ID(lx->kw) : KW_NONE;
	bool name = t == TK_WORD || t == TK_QIDENT;
	enum head h = n->head;
	switch (h) {
	case H_NONE:
		return false;
	case H_NOISE:
	case H_ROLLBACK:
		if (id == KW_WORK || id == KW_TRANSACTION)
			return true; /* COMMIT WORK is COMMIT */
		n->head = (h == H_ROLLBACK && id == KW_TO) ? H_ROLLBACK_TO : H_NONE;
		return false;
	case H_RELEASE:
	case H_ROLLBACK_TO:
		return head_savepoint(n, name, id);
	case H_DEALLOC:
		if (id == KW_PREPARE)
			return true; /* DEALLOCATE PREPARE x is DEALLOCATE x */
		break;
	case H_PREPARE:
		if (id == KW_TRANSACTION) {
			n->out->kind = FP_KIND_TXN;
			n->head = H_NONE;
			return false;
		}
		break;
	case H_FETCH:
		if (name && !is_fetch_word(id)) {
			strip_name(n);
			return true;
		}
		return false;
	case H_SET:
	case H_SET_SESSION:
	case H_SET_TIME:
		return head_set(n);
	case H_SETVAL:
		return head_setval(n, t, id);
	case H_CREATE:
	case H_TEMP_TABLE:
		return head_create(n, id);
	case H_EXEC_ARGS:
		if (t != TK_OPEN)
			n->head = H_NONE;
		return false;
	default:
		break;
	}
	/* H_NAME, H_EXECUTE, H_CLOSE and the fall-throughs above: this token
	 * is the name, unless it is ALL (DEALLOCATE ALL, CLOSE ALL) */
	n->head = h == H_EXECUTE ? H_EXEC_ARGS : H_NONE;
	if (!name || id == KW_ALL)
		return false;
	strip_name(n);
	return true;
}

/* ---- one token through the normalizer ---- */

/* A pending VALUES comma or ARRAY word is settled by the token after it. */
static void settle(struct norm *n)
{
	struct fp_lex *lx = &n->lx;
	struct frame *f = top(n);
	if (n->pending_array && !(lx->type == TK_OPEN && lx->s[lx->start] == '['))
		flush_array(n);
	if (n->pending_semi && !(lx->type == TK_SEMI && n->depth == 0 && !n->overflow)) {
		n->pending_semi = false;
		emit(n, V_OP ^ ';');
		show(n, ";", 1, M_RAW, D_OTHER);
	}
	if (f->values) {
		bool row = lx->type == TK_OPEN && lx->s[lx->start] == '(' &&
			   ((n->prev & P_VALUES) || f->comma);
		bool comma = lx->type == TK_COMMA && (n->prev & P_ROWCLOSE) && !f->comma;
		if (!row && !comma) {
			if (f->comma)
				emit(n, V_OP ^ ',');
			f->values = f->comma = false;
		}
	}
}

/* The token after AS in a select or RETURNING list: a name there is a
 * column alias, shown but not part of the shape (pg_stat_statements and
 * libpg_query leave it out too: it names a result column, it does not
 * change the work). True when the token was consumed. */
static bool alias(struct norm *n)
{
	struct fp_lex *lx = &n->lx;
	n->pending_as = false;
	if (lx->type == TK_WORD) {
		n->ntok++;
		show_word(n, lx->s + lx->start, lx->end - lx->start);
		return true;
	}
	if (lx->type == TK_QIDENT) {
		n->ntok++;
		show(n, lx->s + lx->start, lx->end - lx->start, M_SAFE, D_WORD);
		return true;
	}
	emit(n, word_const("as"));
	return false;
}

/* Does the next token need the rules of step_slow() before it: the first
 * tokens, one after IN, VALUES or a row, a pending ARRAY or ';', VALUES
 * rows, a statement head rule? */
static inline void attn_update(struct norm *n)
{
	n->attn = n->ntok == 0 || n->cur || n->out->kind == FP_KIND_EMPTY || n->pending_array ||
		  n->pending_semi || n->pending_as || top(n)->values ||
		  (n->head != H_NONE && n->depth == 0 && !n->overflow);
}

static void step_slow(struct norm *n)
{
	struct fp_lex *lx = &n->lx;
	if (lx->type == TK_SEMI && n->ntok == 0)
		return; /* leading ';' */
	settle(n);
	if (n->pending_as && alias(n))
		return;
	if (lx->type == TK_WORD && n->out->kind == FP_KIND_EMPTY) {
		if (n->ntok == 0) {
			n->ntok++;
			first_word(n);
			return;
		}
		n->out->kind = kind_of(KW_ID(lx->kw));
	}
	bool at_top = n->depth == 0 && !n->overflow;
	n->ntok++;
	if (at_top && n->head != H_NONE && head_rule(n))
		return;
	switch (lx->type) {
	case TK_CONST: tok_const(n); break;
	case TK_WORD: tok_word(n); break;
	case TK_QIDENT: tok_qident(n); break;
	case TK_OPEN: tok_open(n); break;
	case TK_CLOSE: tok_close(n); break;
	case TK_COMMA: tok_comma(n); break;
	case TK_SEMI:
		if (at_top) {
			/* a trailing ';' is not part of the shape, nor is ";;" */
			n->pending_semi = true;
			break;
		}
		tok_other(n);
		break;
	default: tok_other(n); break;
	}
}

/* One token that run() does not apply itself */
static void step(struct norm *n)
{
	n->prev = n->cur;
	n->cur = 0;
	step_slow(n);
	attn_update(n);
}

/* ---- the loop: lexer and normalizer in one ----
 *
 * The common tokens are lexed here and, outside the rare states of
 * attn_update() and without the display text, applied here too, with the
 * running hash of the innermost group in a register (its frame's sig is
 * stale meanwhile). Every other token is lexed by fp_lex.c and applied by
 * step(), with the hash written back before and read again after.
 */

/* A group opened by "(" or "[" in a frame whose elements are not tracked
 * (tok_open()'s plain case): a new FK_GROUP frame. */
static inline struct frame *push_group(struct norm *n, unsigned char ch)
{
	struct frame *f = n->top = &n->fr[++n->depth];
	f->mark = mark_now(n);
	f->kind = FK_GROUP;
	f->elem = ES_BAD;
	f->open = ch;
	f->cast_br = 0;
	f->nelem = 0;
	f->values = f->have_row = f->comma = false;
	f->sel = false;
	return f;
}

static void run(struct norm *n)
{
#define FP_CS_LABEL(k) &&l_##k
	static const void *const lexer[256] = {FP_CSTART(FP_CS_LABEL)};
#undef FP_CS_LABEL
	struct fp_lex *lx = &n->lx;
	const char *s = lx->s;
	const size_t len = lx->len;
	size_t i = 0, st = 0; /* the current token is s[st..i) */
	struct frame *f = n->top;
	uint64_t h = f->sig, h2; /* h2: the current token's value */
	/* apply the token here: !n->attn, no text, and no statement head rule
	 * (so that n->ntok, which only they look at once past 0, need not be
	 * counted: a statement's head never comes back). FAST_PLAIN: and the
	 * elements of the innermost group are not tracked (f->elem is ES_BAD,
	 * which no token applied here changes), so that the common tokens
	 * need one test */
	enum { SLOW, FAST_TRACK, FAST_PLAIN } fast = SLOW;
#define FAST_IF(ok) ((ok) ? (f->elem == ES_BAD ? FAST_PLAIN : FAST_TRACK) : SLOW)
	/* the previous token's type and (lx->kw) the last word's kw, as
	 * fp_lex_next() leaves them: lex_op() and head_set() look at them */
	enum tok_type t, pt = TK_EOF;
	struct fp_word w;
	struct fp_tail tail;
	unsigned k;
	/* the identifier bytes among the 16 at wbase, from the last word's
	 * scan: the next word, when it starts and ends among them, is found
	 * without another classification (and the lexer's chain from one
	 * token's end to the next token's start is shorter) */
	size_t wbase = (size_t)-64;
	unsigned idm = 0, d;
	/* with SSE2, the 16 bytes at wbase in lower case, then zeros */
	char lwin[32] __attribute__((aligned(16))) = {0};
	const char *v;

	fp_tail_init(&tail, s, len);
/* the scanners' view of the input at j (see fp_view()) */
#define VIEW(j) fp_view(s, len, &tail, (j), FP_VIEW_MAX)
/* the length of the run of identifier bytes at j, from the window when it
 * is there, else from the 16 bytes at j, which become the window */
#define RUN(j)                                                                                     \
	((d = (unsigned)((j) - wbase)) < FP_WORD_WIN && (k = (unsigned)__builtin_ctz(~idm >> d)) < FP_WORD_WIN - d \
		 ? k                                                                               \
		 : (wbase = (j), fp_ident_run16w(VIEW(j), &idm, lwin)))

/* to the next token: one indirect jump per token, on its first byte, past
 * the single blank that most often separates two tokens */
#define NEXT()                                                   \
	do {                                                     \
		if (FP_UNLIKELY(i >= len))                       \
			goto done;                               \
		if (s[i] == ' ' && FP_UNLIKELY(++i >= len))      \
			goto done;                               \
		goto *lexer[(unsigned char)s[i]];                \
	} while (0)

	NEXT();
l_SPACE:
	i++;
	NEXT();
l_PREFIX:
	if (i + 1 < len && (s[i + 1] == '\'' || s[i + 1] == '&'))
		goto lex_slow;
l_WORD:
	st = i;
	d = (unsigned)(i - wbase);
	if (d < FP_WORD_WIN && (k = (unsigned)__builtin_ctz(~idm >> d)) < FP_WORD_WIN - d) {
#if defined(__SSE2__)
		fp_hash_lowered(lwin + d, k, &w);
#else
		fp_hash_word(VIEW(i), k, &w);
#endif
		i += k;
	} else if (FP_LIKELY((k = fp_scan_word(VIEW(i), &w, &idm, lwin)) != 0)) {
		wbase = st;
		i += k;
	} else { /* a copy: w itself stays in registers */
		struct fp_word lw;
		i = fp_word_long(s, i, len, &lw);
		w = lw;
	}
word:
	pt = TK_WORD;
	lx->kw = w.kw;
	if (FP_LIKELY(fast == FAST_PLAIN && !(w.kw & KF_ACT))) { /* tok_plain_word() */
		/* reserved words only (fingerprint_kwgen.py checks) */
		if (w.kw & (KF_SEL | KF_ENDSEL))
			f->sel = (w.kw & KF_SEL) != 0;
		h = fp_mix(h, w.h);
		NEXT();
	}
	if (fast) {
		if (FP_UNLIKELY(w.kw & KF_ACT)) {
			/* the KF_ACT words that tok_word() applies as it stands */
			unsigned id = KW_ID(w.kw);
			if (id == KW_TRUE || id == KW_FALSE) {
				elem_const(f);
				n->nparams++;
				h = fp_mix(h, V_CONST);
				NEXT();
			}
			if (id == KW_NULL || id == KW_DEFAULT) {
				elem_const(f);
				h = fp_mix(h, w.h);
				NEXT();
			}
			if (id != KW_AS || f->sel)
				goto word_slow; /* AS in a select list: an alias may follow */
		}
		/* tok_plain_word() */
		if (FP_UNLIKELY(f->elem != ES_BAD)) {
			if (w.kw & (KF_EXPR | KF_PSPACE | KF_RESERVED))
				f->elem = ES_BAD; /* not part of a type name */
			else
				elem_type(f);
		}
		/* reserved words only (fingerprint_kwgen.py checks) */
		if (w.kw & (KF_SEL | KF_ENDSEL))
			f->sel = (w.kw & KF_SEL) != 0;
		h = fp_mix(h, w.h);
		NEXT();
	}
word_slow:
	if (n->ntok == 0 && !n->text && first_word_fast(n, &w, &h)) {
		fast = FAST_IF(!n->attn);
		NEXT();
	}
	lx->first = w.first;
	lx->h = w.h;
	t = TK_WORD;
	goto apply;
l_DIGIT:
	k = fp_scan_digits(VIEW(i));
	if (FP_UNLIKELY(!k))
		goto lex_slow;
	st = i;
	i += k;
	goto constant;
l_QUOTE:
	st = i++;
	k = fp_scan_string(VIEW(i));
	i = FP_LIKELY(k) ? i + k : fp_lex_string(lx, i);
constant:
	pt = TK_CONST;
	if (FP_LIKELY(fast == FAST_PLAIN)) {
		n->nparams++;
		h = fp_mix(h, V_CONST);
		NEXT();
	}
	if (fast) {
		elem_const(f);
		n->nparams++;
		h = fp_mix(h, V_CONST);
		NEXT();
	}
	t = TK_CONST;
	goto apply;
l_DQUOTE:
	st = i++;
	k = RUN(i);
	v = VIEW(i);
	if (FP_LIKELY(k - 1 < FP_HASH_MAX && v[k] == '"' && v[k + 1] != '"')) {
#if defined(__SSE2__)
		h2 = fp_qident_hash_lw(v, lwin + (i - wbase), k, s + st); /* a name of identifier bytes */
#else
		h2 = fp_qident_hash(v, k, s + st); /* a name of identifier bytes */
#endif
		i += k + 1;
	} else {
		lx->start = st; /* the text hashed when it is not a bare word's */
		i = fp_lex_qident(lx, i);
		h2 = lx->h;
	}
qident:
	pt = TK_QIDENT;
	if (FP_LIKELY(fast == FAST_PLAIN)) {
		h = fp_mix(h, h2);
		NEXT();
	}
	if (fast) {
		elem_type(f);
		h = fp_mix(h, h2);
		NEXT();
	}
	lx->h = h2;
	t = TK_QIDENT;
	goto apply;
l_COMMA:
	t = TK_COMMA;
	h2 = V_OP ^ ',';
	goto punct;
l_DOT:
	if (i + 1 < len && (s[i + 1] == '.' || IS(s[i + 1], C_DIGIT)))
		goto lex_slow; /* "..", or a number */
	t = TK_DOT;
	h2 = V_OP ^ '.';
	goto punct;
l_COLON:
	if (i + 1 >= len || s[i + 1] != ':')
		goto lex_slow;
	st = i;
	i += 2;
	t = TK_CAST;
	h2 = V_OP ^ ':';
	goto punct2;
l_OP:
	if (i + 1 < len && IS(s[i + 1], C_OP))
		goto lex_slow; /* a longer operator, or a comment after it */
	lx->h = (FNV_OFF ^ (unsigned char)s[i]) * FNV_PRIME;
	goto op;
l_OTHER: /* hashed as shown: a control byte as '?' */
	lx->h = (FNV_OFF ^ fp_safe_byte((unsigned char)s[i])) * FNV_PRIME;
op:
	t = TK_OP;
	h2 = V_OP ^ lx->h;
punct:
	st = i++;
punct2:
	pt = t;
	if (FP_LIKELY(fast == FAST_PLAIN)) {
		h = fp_mix(h, h2);
		NEXT();
	}
	if (fast) {
		elem_step(f, t);
		h = fp_mix(h, h2);
		NEXT();
	}
	goto apply;
l_OPEN:
	pt = TK_OPEN;
	if (FP_LIKELY(fast == FAST_PLAIN && !n->overflow && n->depth < FP_DEPTH_MAX)) {
		n->prev = 0;
		f->sig = h;
		f = push_group(n, (unsigned char)s[i]); /* FAST_PLAIN still */
		h = V_GROUP;
		i++;
		NEXT();
	}
	st = i++;
	t = TK_OPEN;
	goto apply;
l_CLOSE:
	pt = TK_CLOSE;
	if (FP_LIKELY(fast && f->kind == FK_GROUP && n->depth > 0 && !n->overflow)) {
		h2 = fp_mix(V_GROUP ^ f->open, h);
		f = n->top = &n->fr[--n->depth];
		h = fp_mix(f->sig, h2);
		/* back in a frame with VALUES rows? */
		n->attn = f->values;
		fast = FAST_IF(!n->attn);
		i++;
		NEXT();
	}
	st = i++;
	t = TK_CLOSE;
	goto apply;
l_SEMI:
	pt = TK_SEMI;
	st = i++;
	t = TK_SEMI;
	goto apply;
l_SLOW: /* $ - / */
	if (s[i] == '$' && i + 1 < len && IS(s[i + 1], C_DIGIT)) {
		for (st = i, i += 2; i < len && IS(s[i], C_DIGIT);)
			i++;
		goto constant; /* $n */
	}
lex_slow:
	/* the general lexer */
	lx->type = pt;
	lx->start = i;
	fp_lex_slow(lx, i);
	t = lx->type;
	if (t == TK_EOF)
		goto done;
	st = lx->start;
	i = lx->end;
	pt = t;
	/* the common kinds of tokens go on as if lexed here (a word after a
	 * comment, a string with '' in it, a number with a fraction, a longer
	 * operator, a negative number) */
	switch (t) {
	case TK_WORD:
		w.first = lx->first;
		w.h = lx->h;
		w.kw = lx->kw;
		goto word;
	case TK_CONST:
		goto constant;
	case TK_QIDENT:
		h2 = lx->h;
		goto qident;
	case TK_OP:
		h2 = V_OP ^ lx->h;
		goto punct2;
	default:
		break;
	}
apply:
	lx->type = t;
	lx->start = st;
	lx->end = i;
	f->sig = h;
	step(n);
	f = n->top;
	h = f->sig;
	fast = FAST_IF(!n->attn && !n->text && n->head == H_NONE);
	NEXT();
done:
	f->sig = h;
#undef NEXT
#undef FAST_IF
#undef VIEW
#undef RUN
}

/* ---- public ---- */

static void norm_init(struct norm *n, const char *sql, size_t len, unsigned opts,
		      struct fp_result *out)
{
	fp_lex_init(&n->lx, sql, len, 0);
	n->out = out;
	n->text = !(opts & FP_OPT_NO_TEXT);
	n->t.buf = out->text;
	n->t.cap = n->text ? FP_TEXT_MAX - 1 : 0;
	n->t.len = n->t.valid = 0;
	n->t.last = D_NONE;
	n->nparams = n->depth = n->overflow = n->ntok = 0;
	n->top = &n->fr[0];
	n->head = H_NONE;
	n->set_const = n->pending_semi = n->pending_array = n->pending_as = false;
	n->temp = false;
	n->prev = n->cur = 0;
	n->attn = true;
	n->fr[0].sig = V_SEED;
	n->fr[0].kind = FK_GROUP;
	n->fr[0].elem = ES_BAD;
	n->fr[0].cast_br = 0;
	n->fr[0].values = n->fr[0].comma = n->fr[0].have_row = false;
	n->fr[0].sel = false;
	out->kind = FP_KIND_EMPTY;
	out->flags = 0;
	out->nkv = 0;
	out->tag_len = 0;
	out->tag[0] = 0;
}

void fp_compute(const char *sql, size_t len, unsigned opts, struct fp_result *out)
{
	struct norm n;
	norm_init(&n, sql, len, opts, out);
	run(&n);
	if (n.pending_array)
		flush_array(&n);
	if (n.pending_as)
		emit(&n, word_const("as"));
	if (n.head == H_SET_TIME)
		show_word_text(&n, "time"); /* held for a ZONE that did not come */
	while (n.depth > 0) { /* unbalanced: close what is open, plainly */
		struct frame f = n.fr[n.depth--];
		n.top = &n.fr[n.depth];
		emit(&n, fp_mix(V_GROUP ^ f.open, f.sig));
	}
	if (n.fr[0].comma)
		emit(&n, V_OP ^ ',');
	if (out->kind == FP_KIND_EMPTY && n.ntok > 0)
		out->kind = FP_KIND_OTHER;
	out->hash = finish(n.fr[0].sig);
	out->nparams = n.nparams;
	out->text_len = n.t.valid;
	out->text[n.t.valid] = 0;
	if (n.t.valid < n.t.len && !(opts & FP_OPT_NO_TEXT))
		out->flags |= FP_TRUNCATED;
	if (n.lx.partial)
		out->flags |= FP_PARTIAL;
	if (n.lx.have_tag && !(opts & FP_OPT_NO_TAG))
		fp_lex_tag(sql + n.lx.tag_off, n.lx.tag_len, out);
}
