/**
 * The base of MetaTx on PostgreSQL (postgres-meta-tx.ts): the connection, named prepared
 * statements, and the few ways a primitive runs one (rows, one row, a row count, existence). The
 * primitives themselves are split by concept as on the SQLite side: sharing (devices, links,
 * quotas: postgres-sharing-tx.ts), shared folders (postgres-folder-tx.ts), content search
 * (postgres-content-tx.ts), the tree, blocks and collection (postgres-meta-tx.ts).
 */
import type { QueryConfig, QueryResult, QueryResultRow } from 'pg';
import type { Step } from '../engine/step.js';

/** A connection (in a transaction) or the pool (single statements). */
export interface Queryable {
  query<R extends QueryResultRow>(query: QueryConfig): Promise<QueryResult<R>>;
}

/**
 * Every statement is a named prepared statement: each connection parses and plans it once, then
 * only binds (the statements are few and fixed; a commit runs about twenty).
 */
const names = new Map<string, string>();
export function prepared(text: string, values: unknown[]): QueryConfig {
  let name = names.get(text);
  if (name === undefined) names.set(text, (name = `loft_${names.size}`));
  return { name, text, values };
}

export class PostgresTxBase {
  protected readonly db: Queryable;

  constructor(db: Queryable) {
    this.db = db;
  }

  protected *rows<R extends QueryResultRow>(sql: string, params: unknown[]): Step<R[]> {
    return ((yield this.db.query<R>(prepared(sql, params))) as QueryResult<R>).rows;
  }
  protected *row<R extends QueryResultRow>(sql: string, params: unknown[]): Step<R | undefined> {
    return (yield* this.rows<R>(sql, params))[0];
  }
  protected *run(sql: string, params: unknown[]): Step<number> {
    return ((yield this.db.query(prepared(sql, params))) as QueryResult).rowCount ?? 0;
  }
  protected *exists(sql: string, params: unknown[]): Step<boolean> {
    return (yield* this.rows(sql, params)).length > 0;
  }
}
