/**
 * The user's browser, played over HTTP for sign-in tests: follows redirects, keeps cookies, and
 * submits the forms a provider shows (device code confirmation, login, consent), filling in the
 * fields a person would type.
 */

export interface Page {
  url: string;
  status: number;
  html: string;
}

export class Browser {
  private cookies = new Map<string, string>();

  /** GETs `url` and follows redirects. */
  visit(url: string): Promise<Page> {
    return this.go(url, { method: 'GET' });
  }

  /** Submits the first form of `page` with its hidden fields plus `fields`. */
  submit(page: Page, fields: Record<string, string> = {}): Promise<Page> {
    const form = /<form\b[^>]*>[^]*?<\/form>/i.exec(page.html)?.[0];
    if (form === undefined) throw new Error(`no form on ${page.url}:\n${page.html.slice(0, 400)}`);
    const action = /action="([^"]*)"/i.exec(form)?.[1] ?? page.url;
    const body = new URLSearchParams();
    for (const input of form.matchAll(/<input\b[^>]*>/gi)) {
      const name = /name="([^"]*)"/i.exec(input[0])?.[1];
      const value = /value="([^"]*)"/i.exec(input[0])?.[1] ?? '';
      if (name !== undefined && /type="hidden"/i.test(input[0])) body.set(name, decode(value));
    }
    for (const [k, v] of Object.entries(fields)) body.set(k, v);
    return this.go(new URL(decode(action), page.url).href, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: body.toString(),
    });
  }

  /** Signs in as `login` through whatever forms the provider shows, from `page` on. */
  async signIn(page: Page, login: string): Promise<Page> {
    for (let step = 0; step < 10; step++) {
      if (/name="prompt" value="login"/.test(page.html))
        page = await this.submit(page, { login, password: 'pw' });
      else if (/name="prompt" value="consent"/.test(page.html)) page = await this.submit(page);
      else if (/<form\b[^>]*method="post"/i.test(page.html) && /name="xsrf"/.test(page.html))
        page = await this.submit(page);
      else return page;
    }
    throw new Error(`sign-in did not finish: ${page.url}`);
  }

  private async go(url: string, init: RequestInit): Promise<Page> {
    for (let hop = 0; hop < 20; hop++) {
      const res = await fetch(url, {
        ...init,
        redirect: 'manual',
        headers: { ...(init.headers as Record<string, string>), cookie: this.cookieHeader() },
      });
      for (const c of res.headers.getSetCookie()) {
        const [pair] = c.split(';');
        const at = pair!.indexOf('=');
        const name = pair!.slice(0, at).trim();
        const value = pair!.slice(at + 1).trim();
        if (/expires=Thu, 01 Jan 1970/i.test(c) || value === '') this.cookies.delete(name);
        else this.cookies.set(name, value);
      }
      const location = res.headers.get('location');
      if (res.status >= 300 && res.status < 400 && location !== null) {
        await res.arrayBuffer();
        url = new URL(location, url).href;
        init = { method: 'GET' };
        continue;
      }
      return { url, status: res.status, html: await res.text() };
    }
    throw new Error(`too many redirects from ${url}`);
  }

  private cookieHeader(): string {
    return [...this.cookies].map(([k, v]) => `${k}=${v}`).join('; ');
  }
}

function decode(s: string): string {
  return s
    .replace(/&amp;/g, '&')
    .replace(/&quot;/g, '"')
    .replace(/&#x2F;/g, '/')
    .replace(/&#39;/g, "'");
}
