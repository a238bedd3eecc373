// Log in and sign up. Signing up creates the user, the organization and a first API key (whose
// secret the API returns once), then logs in with the same credentials to start the session.
import { post } from "../api.js";
import { bindForm, instantiate } from "../dom.js";

/** @param {import("../app.js").ViewContext} context */
export function renderLogin({ main, portal }) {
  const { fragment, refs } = instantiate("view-login");
  if (portal.loginNotice) {
    refs.notice.textContent = portal.loginNotice;
    refs.notice.hidden = false;
  }
  bindForm(/** @type {HTMLFormElement} */ (refs.form), refs.error, async ({ email = "", password = "" }) => {
    const grant = await post("/v1/auth/login", { email, password });
    portal.startSession({ csrfToken: grant.csrf_token, email: grant.user.email });
  });
  main.append(fragment);
}

/** @param {import("../app.js").ViewContext} context */
export function renderSignup({ main, portal }) {
  const { fragment, refs } = instantiate("view-signup");
  bindForm(
    /** @type {HTMLFormElement} */ (refs.form),
    refs.error,
    async ({ email = "", password = "", organization_name = "" }) => {
      const organization = organization_name.trim();
      const account = await post("/v1/auth/signup", {
        email,
        password,
        ...(organization ? { organization_name: organization } : {}),
      });
      portal.newSecret = {
        title: `Your first API key, “${account.api_key.name}”:`,
        secret: account.api_key.secret,
      };
      let grant;
      try {
        grant = await post("/v1/auth/login", { email, password });
      } catch {
        // The account exists now; a second signup would only answer that the email is taken.
        portal.loginNotice = "Your account is created. Log in to continue.";
        portal.navigate("/login");
        return;
      }
      portal.startSession({ csrfToken: grant.csrf_token, email: grant.user.email });
    },
  );
  main.append(fragment);
}
