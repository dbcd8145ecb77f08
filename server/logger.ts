// The service logger: JSON lines, child loggers for context, secrets redacted.
import pino from "pino";

export type Logger = pino.Logger;

export function createLogger(level = "info", destination?: pino.DestinationStream): Logger {
  return pino(
    {
      level,
      base: { service: "cutover" },
      redact: {
        paths: [
          "token",
          "*.token",
          "authorization",
          "*.authorization",
          "headers.authorization",
          "req.headers.authorization",
          "passphrase",
          "*.passphrase",
          "secret",
          "*.secret",
          "responseUrl",
          "*.responseUrl",
          "response_url",
          "*.response_url",
          "artifact.env",
          "*.artifact.env",
          "forceKey",
          "*.forceKey",
        ],
        censor: "[redacted]",
      },
    },
    destination,
  );
}
