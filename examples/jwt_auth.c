/*
 * jwt_auth.c — authentication with JSON Web Tokens: log in, then call with a bearer token.
 *
 *   SECRET_KEY=$(head -c 32 /dev/urandom | base64) ./build/examples/jwt_auth
 *   TOKEN=$(curl -s -X POST localhost:5000/login -H 'Content-Type: application/json' \
 *           -d '{"username": "ann", "password": "correct horse"}' | jq -r .access_token)
 *   curl localhost:5000/me -H "Authorization: Bearer $TOKEN"      # {"user": "ann", "role": "admin"}
 *   curl -i localhost:5000/admin                                   # 401, WWW-Authenticate: Bearer
 *
 * Two users with argon2id-hashed passwords stand in for a users table (see todo.c for a
 * database, and vial-server's apps/users/ for accounts, API keys and roles in SQL).
 */
#include <stdlib.h>
#include <string.h>
#include <vial.h>

typedef struct user {
    const char *name, *password, *role; /* the password is dropped once hashed */
    char hash[VIAL_PASSWORD_HASH_MAX];
} user;
static user users[] = { { "ann", "correct horse", "admin", "" }, { "bob", "battery staple", "user", "" } };
static char nobody[VIAL_PASSWORD_HASH_MAX]; /* checked for unknown names: the same time either way */

static int hash_passwords(vial_app *app)
{
    for (size_t i = 0; i < sizeof users / sizeof *users; i++) {
        if (vial_password_hash(app, users[i].password, users[i].hash))
            return 1;
        users[i].password = NULL;
    }
    return vial_password_hash(app, "not a password of anyone", nobody);
}

static user *find_user(const char *name)
{
    for (size_t i = 0; name && i < sizeof users / sizeof *users; i++)
        if (!strcmp(users[i].name, name))
            return &users[i];
    return NULL;
}

/* A token checked out (signature, expiry): who is it?  Asked on every request, so a
 * user removed from the table is refused at once, token or not. */
static int from_token(vial_req *req, json_t *claims, vial_identity *id)
{
    user *u = find_user(json_string_value(json_object_get(claims, "sub")));
    if (!u)
        return VIAL_ENOENT; /* 401 */
    id->subject = u->name;
    id->role = u->role;
    return 0;
}
static const vial_auth_ops auth_ops = { .from_token = from_token };

static const vial_field login_f[] = {
    VIAL_FIELD("username", VIAL_F_STRING, VIAL_REQUIRED, .max = 64),
    VIAL_FIELD("password", VIAL_F_STRING, VIAL_REQUIRED, .max = 1024),
    VIAL_FIELD_END };
static const vial_schema login_schema = { login_f, VIAL_SCHEMA_STRICT };
static const vial_limit login_limit = { "login", 30, 10, VIAL_LIMIT_IP }; /* 30/min, bursts of 10 */

static int login(vial_req *req)
{
    if (vial_ratelimit(req, &login_limit))
        return 0; /* 429 answered */
    json_t *body = vial_body_json_valid(req, &login_schema);
    if (!body)
        return 0;
    user *u = find_user(json_string_value(json_object_get(body, "username")));
    const char *password = json_string_value(json_object_get(body, "password"));
    if (vial_password_verify(u ? u->hash : nobody, password) != 1 || !u)
        return vial_abort(req, 401, "wrong username or password");
    char *token;
    json_t *claims = json_pack("{s:s}", "sub", u->name);
    int rc = claims ? vial_jwt_issue_malloc(vial_app_of(req), claims, 3600, &token) : VIAL_ENOMEM;
    json_decref(claims);
    if (rc)
        return rc; /* 500 */
    rc = vial_json_take(req, 200, json_pack("{s:s, s:s, s:i}", "access_token", token,
                                            "token_type", "Bearer", "expires_in", 3600));
    free(token);
    return rc;
}

static int me(vial_req *req)
{
    if (vial_auth_require(req, NULL)) /* any role; 401 without a valid token */
        return 0;
    const vial_identity *id = vial_auth(req);
    return vial_json_take(req, 200, json_pack("{s:s, s:s}", "user", id->subject, "role", id->role));
}

static int admin(vial_req *req)
{
    if (vial_auth_require(req, "admin")) /* 403 for a valid token of another role */
        return 0;
    return vial_text(req, 200, "welcome to the control room");
}

int main(int argc, char **argv)
{
    vial_app *app = vial_app_new("jwt_auth");
    vial_auth_init(app, &auth_ops); /* SECRET_KEY signs the tokens; --debug makes one up */
    vial_on_start(app, hash_passwords);
    vial_post(app, "/login", login);
    vial_get(app, "/me", me);
    vial_get(app, "/admin", admin);
    return vial_main(app, argc, argv);
}
