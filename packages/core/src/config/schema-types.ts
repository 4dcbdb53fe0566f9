import type { FromSchema, JSONSchema as LiteralSchema } from 'json-schema-to-ts';

/**
 * The TypeScript type of a config, derived from its JSON Schema literal (declared `as const`):
 * the schema is the one source of truth for a method's options, their types and their
 * defaults (schemaDefaults). Properties with a default are present after validation, so
 * they are required in the type, as the second pass guarantees.
 */
export type ConfigOf<S extends LiteralSchema> = FromSchema<S>;

export type { LiteralSchema };
