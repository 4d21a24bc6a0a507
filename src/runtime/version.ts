/** The Kairos release, reported by `kairos version`, `/health` and `/api/status`. */
export const VERSION = "0.1.0";
