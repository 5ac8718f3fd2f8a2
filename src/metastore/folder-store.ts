/**
 * Shared folders (issue 13 item 1): the MetadataStore role that turns a folder of a user's home
 * into a namespace of its own and mounts it in the trees of its members.
 *
 * The model (docs/SHARING.md has the whole design):
 * - Sharing a folder moves its subtree (nodes, their revisions and block lists) into a NEW
 *   namespace owned by the sharer; node ids are global, so every drive's server ids stay valid.
 *   The new namespace's sequence starts at the home's head, so each node's revisions keep rising.
 *   The folder becomes the new namespace's root (one more revision, parentId null).
 * - A mount record per member says where the namespace's root shows in that member's tree: a
 *   folder of the member's home and a name. The owner's is where the folder was; a member's is its
 *   home root, the name made unique there.
 * - Roles are the namespace's `ns_members` rows (owner, write = editor, read = viewer); block
 *   possession follows them (a member may read the blocks the namespace references), so removing
 *   a member takes both the mount and the access away in one transaction.
 * - No share inside a share, and no share of a folder holding one (refused with CONFLICT).
 */
import type { Actor, Role } from './metadata-store.js';

/** A user's mount of a shared namespace. */
export interface MountInfo {
  ns: number;
  /** The namespace's root node (the shared folder). */
  rootId: number;
  /** Where it shows in the user's tree: a folder of the user's home, and a name. */
  parentId: number;
  name: string;
  /** Path in the user's tree ("/a/b"). */
  path: string;
  role: Role;
  owner: string;
}

export interface ShareMember {
  user: string;
  role: Role;
}

export interface ShareInfo extends MountInfo {
  members: ShareMember[];
}

export interface ShareOp {
  /** The folder, as a path in the sharer's tree. */
  path: string;
  withUser: string;
  role: 'read' | 'write';
}

/** Where a mount goes in its user's tree: a path, or a folder of the home (by id) and a name. */
export type MountPlace = { path: string } | { parentId: number; name: string };

export interface FolderStore {
  /**
   * `home`: the caller's home namespace (paths are in the caller's tree).
   * Shares the folder at `path` with `withUser` (a new namespace the first time, a new member or a
   * new role after). Only the owner may; not the root, not a file, not inside or around a share.
   */
  shareFolder(actor: Actor, home: number, op: ShareOp): Promise<ShareInfo>;
  /** The owner takes `withUser` out of the shared folder at `path`; NOT_FOUND when not a member. */
  unshareFolder(actor: Actor, home: number, path: string, withUser: string): Promise<ShareInfo>;
  /** A member (not the owner) leaves the shared folder at `path`. */
  leaveFolder(actor: Actor, home: number, path: string): Promise<MountInfo>;
  /**
   * Moves the user's mount of `ns` within their own tree (their placement only; the folder, its
   * other members and the owner see no change). EXISTS when the name is taken there.
   */
  moveMount(actor: Actor, home: number, ns: number, to: MountPlace): Promise<MountInfo>;
  /** The user's shared folders (owned and joined), by path, with their members. */
  listShares(userId: number, home: number): Promise<ShareInfo[]>;
  /** The user's mounts (what the user's view projects), by namespace. */
  mountsOf(userId: number, home: number): Promise<MountInfo[]>;
  /** The namespace a node (live or deleted) is in, or null when there is no such node. */
  nsOfNode(id: number): Promise<number | null>;
}
