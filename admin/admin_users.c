/* Placeholder: replaced by the admin users and sessions work. */
#include <stdlib.h>

#include "admin/admin_priv.h"

struct admin_sessions {
	int unused;
};

struct admin_sessions *admin_sessions_new(void)
{
	return calloc(1, sizeof(struct admin_sessions));
}

void admin_sessions_free(struct admin_sessions *s)
{
	free(s);
}

int admin_users_bootstrap(struct admin *a, char *err, size_t errlen)
{
	(void)a;
	(void)err;
	(void)errlen;
	return 0;
}

int admin_session_get(struct admin *a, const char *session, int64_t now_ms,
		      struct admin_principal *p)
{
	(void)a;
	(void)session;
	(void)now_ms;
	(void)p;
	return -1;
}

int admin_token_check(struct admin *a, const char *token, struct admin_principal *p)
{
	(void)a;
	(void)token;
	(void)p;
	return -1;
}

#define TODO_HANDLER(name)                                                                 \
	enum MHD_Result name(struct relay_req *req)                                        \
	{                                                                                  \
		return relay_reply_error(req, 503, "unavailable", NULL, "being built");     \
	}
TODO_HANDLER(admin_h_login)
TODO_HANDLER(admin_h_logout)
TODO_HANDLER(admin_h_session)
TODO_HANDLER(admin_h_users)
TODO_HANDLER(admin_h_user)
TODO_HANDLER(admin_h_tokens)
TODO_HANDLER(admin_h_token)
