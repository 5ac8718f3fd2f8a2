/**
 * The row-level primitives of shared folders (issue 13 item 1; engine/folders.ts) that MetaTx
 * offers besides the tree's. Like the rest of MetaTx, each is one statement and decides nothing.
 */
import type { Role } from '../metadata-store.js';
import type { Step } from './step.js';

export interface MountRow {
  user_id: number;
  ns_id: number;
  parent_id: number;
  name: string;
  role: Role;
  root_id: number;
  owner: string;
}

export interface MemberRow {
  user: string;
  user_id: number;
  role: Role;
}

export interface FolderTx {
  /** Sets the namespace's head sequence (a new shared namespace starts at its home's head). */
  setHead(ns: number, seq: number): Step<void>;
  /** Moves the node row into another namespace. */
  setNodeNs(id: number, ns: number): Step<void>;
  /** Moves every revision of the node from `from` to `to` (their seqs are kept). */
  moveRevisions(from: number, to: number, nodeId: number): Step<void>;
  /** Copies the block list stored at (`from`, `seq`) to (`to`, `seq`). */
  copyContent(from: number, to: number, seq: number): Step<void>;
  /** Sets the member's role (inserting the membership when there is none). */
  setMember(ns: number, userId: number, role: Role): Step<void>;
  deleteMember(ns: number, userId: number): Step<boolean>;
  members(ns: number): Step<MemberRow[]>;
  insertMount(userId: number, ns: number, parentId: number, name: string): Step<void>;
  deleteMount(userId: number, ns: number): Step<boolean>;
  /** The user's mounts, by namespace, with their role and the namespace's owner and root. */
  mountsOf(userId: number): Step<MountRow[]>;
  /** The namespace holding the node (live or not). */
  nsOfNode(id: number): Step<number | undefined>;
  userName(id: number): Step<string | undefined>;
}
