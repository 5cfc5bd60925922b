/* Placeholder: replaced by the admin API work. */
#include "admin/admin_priv.h"

#define TODO_HANDLER(name)                                                                 \
	enum MHD_Result name(struct relay_req *req)                                        \
	{                                                                                  \
		return relay_reply_error(req, 503, "unavailable", NULL, "being built");     \
	}
TODO_HANDLER(admin_h_metrics)
