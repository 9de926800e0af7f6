/*
 * list: intrusive circular doubly-linked lists.
 *
 * Every connection is in exactly one state list at a time; moving it is
 * O(1) and never allocates. A node that is in no list points at itself.
 */
#ifndef PGSIFT_LIST_H
#define PGSIFT_LIST_H

#include <stdbool.h>
#include <stddef.h>

struct list {
	struct list *next, *prev;
};

#define LIST_INIT(name) { &(name), &(name) }

static inline void list_init(struct list *l)
{
	l->next = l->prev = l;
}

static inline bool list_empty(const struct list *l)
{
	return l->next == l;
}

static inline void list_insert_between(struct list *n, struct list *prev, struct list *next)
{
	n->prev = prev;
	n->next = next;
	prev->next = n;
	next->prev = n;
}

/* Appends n at the tail of head. n must not be in a list. */
static inline void list_append(struct list *head, struct list *n)
{
	list_insert_between(n, head->prev, head);
}

/* Inserts n at the front of head. n must not be in a list. */
static inline void list_prepend(struct list *head, struct list *n)
{
	list_insert_between(n, head, head->next);
}

/* Unlinks n (no-op when n is in no list) and leaves it self-linked. */
static inline void list_del(struct list *n)
{
	n->prev->next = n->next;
	n->next->prev = n->prev;
	n->next = n->prev = n;
}

/* Moves n to the tail of head. */
static inline void list_move(struct list *head, struct list *n)
{
	list_del(n);
	list_append(head, n);
}

static inline struct list *list_first(const struct list *head)
{
	return list_empty(head) ? NULL : head->next;
}

static inline size_t list_count(const struct list *head)
{
	size_t n = 0;
	for (const struct list *i = head->next; i != head; i = i->next)
		n++;
	return n;
}

#define container_of(ptr, type, member) ((type *)((char *)(ptr) - offsetof(type, member)))

#define list_entry(ptr, type, member) container_of(ptr, type, member)

/* Iterates safely against removal of the current node. */
#define list_for_each_safe(pos, tmp, head) \
	for ((pos) = (head)->next, (tmp) = (pos)->next; (pos) != (head); (pos) = (tmp), (tmp) = (pos)->next)

#define list_for_each(pos, head) for ((pos) = (head)->next; (pos) != (head); (pos) = (pos)->next)

#endif
