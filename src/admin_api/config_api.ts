/**
 * `/api/config…`: read (secrets redacted), replace, validate, kairos-rs's section endpoints, reload from
 * the file, and the reload status. Writes run through the store: validated, applied at once, persisted.
 */
import { formatProblems } from "../config/problems.ts";
import { locateProblems } from "../config/source_positions.ts";
import { ConfigChangeError } from "../runtime/config_change_error.ts";
import { ApiError } from "./api_error.ts";
import {
  type AdminApp,
  type AdminDeps,
  appliedFields,
  appliedMessage,
  jsonWithEtag,
  who,
} from "./admin_context.ts";
import { SECTION_NAMES, sectionChange, type SectionName } from "./config_sections.ts";
import { keepUnmodeledKeys, restoreRedacted } from "./document_edits.ts";
import { redactSecrets } from "./redact_secrets.ts";
import { readBody } from "./request_body.ts";

/** Mounts the config endpoints on `app`. */
export function mountConfigApi(app: AdminApp, deps: AdminDeps): void {
  const { store } = deps;

  // kairos-rs returns the whole Settings; here the effective config, or the file document with ?view=file.
  app.get("/api/config", (c) => {
    const view = c.req.query("view");
    if (view !== undefined && view !== "effective" && view !== "file") {
      throw new ApiError(
        400,
        `Cannot show the config as view must be "effective" or "file": got ${JSON.stringify(view)}`,
      );
    }
    const body = view === "file" ? store.document : store.config;
    return jsonWithEtag(c, 200, redactSecrets(body), store.version);
  });

  app.put("/api/config", async (c) => {
    const body = (await readBody(c.req.raw, { yaml: true })).value;
    if (body === null || typeof body !== "object" || Array.isArray(body)) {
      throw new ApiError(400, "Config validation failed: expected a config object at the top level");
    }
    const result = await store.update(
      () => restoreRedacted(keepUnmodeledKeys(body, store.document), store.document),
      { who: who(c), action: "config.replace", ifMatch: c.req.header("if-match") },
    );
    return jsonWithEtag(c, 200, {
      success: true,
      message: appliedMessage("Configuration replaced", result),
      ...appliedFields(result),
    }, result.version);
  });

  app.post("/api/config/validate", async (c) => {
    const body = await readBody(c.req.raw, { yaml: true });
    let result;
    try {
      result = store.validate(restoreRedacted(body.value, store.document));
    } catch (err) {
      if (!(err instanceof ConfigChangeError)) throw err;
      result = { ok: false as const, errors: [...err.errors], warnings: [] };
    }
    // The same lines `kairos validate` prints, with positions in the submitted text.
    const errors = result.ok ? [] : await locateProblems(body.text, result.errors);
    const warnings = await locateProblems(body.text, result.warnings);
    return c.json({
      success: true,
      valid: result.ok,
      message: result.ok ? "Configuration is valid" : `Configuration is invalid:\n${formatProblems(errors)}`,
      errors,
      warnings,
    });
  });

  app.post("/api/config/reload", async (c) => {
    const record = await store.reloadFromFile("api");
    if (record.result === "failure") {
      return c.json({
        success: false,
        message: `Failed to reload configuration: ${formatProblems(record.errors)}`,
        version: null,
        timestamp: null,
        errors: record.errors,
      }, 422);
    }
    return jsonWithEtag(c, 200, {
      success: true,
      message: record.result === "success"
        ? `Configuration reloaded from ${store.path} (config version ${record.version})`
        : `Configuration reloaded from ${store.path}: unchanged (config version ${record.version})`,
      version: record.version,
      timestamp: record.at,
      result: record.result,
      warnings: record.warnings,
    }, record.version);
  });

  app.get("/api/config/status", (c) => {
    return jsonWithEtag(
      c,
      200,
      { success: true, ...store.status(), timestamp: new Date().toISOString() },
      store.version,
    );
  });

  for (const section of SECTION_NAMES) {
    app.post(`/api/config/${section}`, async (c) => {
      const change = sectionChange(section as SectionName, (await readBody(c.req.raw)).value);
      if (change.edit === undefined) {
        return jsonWithEtag(
          c,
          200,
          { success: true, message: change.what, version: store.version },
          store.version,
        );
      }
      const edit = change.edit;
      const result = await store.update((draft) => {
        edit(draft);
        return restoreRedacted(draft, store.document);
      }, { who: who(c), action: `config.${section}`, ifMatch: c.req.header("if-match") });
      const kept = change.kept ?? [];
      const notes = [
        ...(change.note ? [change.note] : []),
        ...(kept.length > 0 ? [`kept ${kept.join(", ")}: not in the body; send null to reset`] : []),
      ];
      return jsonWithEtag(c, 200, {
        success: true,
        message: appliedMessage(change.what, result) + notes.map((note) => ` (${note})`).join(""),
        ...appliedFields(result),
        kept,
      }, result.version);
    });
  }
}
