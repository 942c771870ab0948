/* eslint-disable */
import * as types from './graphql';
import type { TypedDocumentNode as DocumentNode } from '@graphql-typed-document-node/core';

/**
 * Map of all GraphQL operations in the project.
 *
 * This map has several performance disadvantages:
 * 1. It is not tree-shakeable, so it will include all operations in the project.
 * 2. It is not minifiable, so the string of a GraphQL query will be multiple times inside the bundle.
 * 3. It does not support dead code elimination, so it will add unused operations.
 *
 * Therefore it is highly recommended to use the babel or swc plugin for production.
 * Learn more about it here: https://the-guild.dev/graphql/codegen/plugins/presets/preset-client#reducing-bundle-size
 */
type Documents = {
    "mutation AddMember($input: AddMemberInput!) {\n  addMember(input: $input) {\n    id\n    role\n    createdAt\n    organization {\n      id\n    }\n    user {\n      id\n    }\n  }\n}": typeof types.AddMemberDocument,
    "mutation AddOrganizationDomain($organizationId: ID!, $domain: String!) {\n  addOrganizationDomain(organizationId: $organizationId, domain: $domain) {\n    domain\n    verified\n    createdAt\n  }\n}": typeof types.AddOrganizationDomainDocument,
    "mutation CreateOrganization($input: CreateOrganizationInput!) {\n  createOrganization(input: $input) {\n    id\n    name\n    externalId\n    domains {\n      domain\n      verified\n      createdAt\n    }\n    createdAt\n  }\n}": typeof types.CreateOrganizationDocument,
    "mutation CreateUser($input: CreateUserInput!) {\n  createUser(input: $input) {\n    id\n    email\n    name\n    externalId\n    createdAt\n  }\n}": typeof types.CreateUserDocument,
    "mutation CreateWebhookEndpoint($input: CreateWebhookEndpointInput!) {\n  createWebhookEndpoint(input: $input) {\n    secret\n    endpoint {\n      id\n      url\n      eventTypes\n      description\n      enabled\n      disabledReason\n      failingSince\n      createdAt\n      updatedAt\n    }\n  }\n}": typeof types.CreateWebhookEndpointDocument,
    "mutation DeleteOrganization($id: ID!, $dryRun: Boolean = false) {\n  deleteOrganization(id: $id, dryRun: $dryRun) {\n    deletedOrganizationId\n    dryRun\n    terminatedSessions {\n      id\n      userId\n      organizationId\n      terminatedAt\n    }\n    removedMemberships {\n      id\n      organizationId\n      userId\n      role\n    }\n    cascadedUsers {\n      id\n    }\n    retainedUserIds\n    receipt {\n      ...Receipt\n    }\n  }\n}": typeof types.DeleteOrganizationDocument,
    "mutation DeleteUser($id: ID!, $dryRun: Boolean = false) {\n  deleteUser(id: $id, dryRun: $dryRun) {\n    deletedUserId\n    dryRun\n    terminatedSessions {\n      id\n      userId\n      organizationId\n      terminatedAt\n    }\n    removedMemberships {\n      id\n      organizationId\n      userId\n      role\n    }\n    receipt {\n      ...Receipt\n    }\n  }\n}": typeof types.DeleteUserDocument,
    "mutation DeleteWebhookEndpoint($id: ID!) {\n  deleteWebhookEndpoint(id: $id) {\n    deletedEndpointId\n  }\n}": typeof types.DeleteWebhookEndpointDocument,
    "fragment Receipt on DeletionReceipt {\n  id\n  kind\n  subjectId\n  actor\n  deletedAt\n  terminatedSessionCount\n  removedMembershipCount\n  cascadedUserCount\n  digest\n}\n\nquery GetDeletionReceipt($subjectId: ID!) {\n  deletionReceipt(subjectId: $subjectId) {\n    ...Receipt\n  }\n}": typeof types.ReceiptFragmentDoc,
    "query Events($first: Int = 50, $after: String, $types: [String!]) {\n  events(first: $first, after: $after, types: $types) {\n    totalCount\n    pageInfo {\n      hasNextPage\n      endCursor\n    }\n    nodes {\n      id\n      type\n      occurredAt\n      data\n    }\n  }\n}": typeof types.EventsDocument,
    "query FindOrganizations($filter: OrganizationFilter!, $first: Int = 20, $after: String) {\n  organizations(filter: $filter, first: $first, after: $after) {\n    pageInfo {\n      hasNextPage\n      endCursor\n    }\n    nodes {\n      id\n      name\n      externalId\n      createdAt\n      domains {\n        domain\n        verified\n      }\n    }\n  }\n}": typeof types.FindOrganizationsDocument,
    "query FindUsers($filter: UserFilter!, $first: Int = 20, $after: String) {\n  users(filter: $filter, first: $first, after: $after) {\n    pageInfo {\n      hasNextPage\n      endCursor\n    }\n    nodes {\n      id\n      email\n      name\n      externalId\n      createdAt\n    }\n  }\n}": typeof types.FindUsersDocument,
    "query GetOrganizationInvitations($id: ID!, $status: InvitationStatus, $first: Int = 20, $after: String) {\n  organization(id: $id) {\n    id\n    invitations(status: $status, first: $first, after: $after) {\n      totalCount\n      pageInfo {\n        hasNextPage\n        endCursor\n      }\n      nodes {\n        id\n        email\n        role\n        status\n        expiresAt\n        createdAt\n        decidedAt\n      }\n    }\n  }\n}": typeof types.GetOrganizationInvitationsDocument,
    "query GetOrganizationSettings($id: ID!) {\n  organization(id: $id) {\n    id\n    settings\n  }\n}": typeof types.GetOrganizationSettingsDocument,
    "query GetOrganization($id: ID!, $first: Int = 20, $after: String) {\n  organization(id: $id) {\n    id\n    name\n    externalId\n    createdAt\n    domains {\n      domain\n      verified\n      createdAt\n    }\n    memberships(first: $first, after: $after) {\n      totalCount\n      pageInfo {\n        hasNextPage\n        endCursor\n      }\n      nodes {\n        id\n        role\n        createdAt\n        user {\n          id\n          email\n          name\n        }\n      }\n    }\n  }\n}": typeof types.GetOrganizationDocument,
    "query GetUserSessions($id: ID!, $status: SessionStatus) {\n  user(id: $id) {\n    id\n    sessions(status: $status) {\n      id\n      status\n      expiresAt\n      terminatedAt\n    }\n  }\n}": typeof types.GetUserSessionsDocument,
    "query GetUser($id: ID!) {\n  user(id: $id) {\n    id\n    email\n    name\n    externalId\n    createdAt\n    memberships {\n      id\n      role\n      organization {\n        id\n        name\n      }\n    }\n    sessions {\n      id\n      status\n      createdAt\n      expiresAt\n      terminatedAt\n      organization {\n        id\n      }\n    }\n  }\n}": typeof types.GetUserDocument,
    "query GetWebhookEndpoint($id: ID!, $first: Int = 20, $after: String) {\n  webhookEndpoint(id: $id) {\n    id\n    url\n    eventTypes\n    description\n    enabled\n    disabledReason\n    failingSince\n    createdAt\n    updatedAt\n    deliveries(first: $first, after: $after) {\n      totalCount\n      pageInfo {\n        hasNextPage\n        endCursor\n      }\n      nodes {\n        id\n        messageId\n        eventType\n        attempt\n        attemptedAt\n        httpStatus\n        durationMs\n        error\n        responseBody\n      }\n    }\n  }\n}": typeof types.GetWebhookEndpointDocument,
    "mutation InviteMember($input: InviteMemberInput!) {\n  inviteMember(input: $input) {\n    id\n    email\n    role\n    status\n    expiresAt\n    createdAt\n    decidedAt\n    organization {\n      id\n      name\n    }\n  }\n}": typeof types.InviteMemberDocument,
    "query ListOrganizations($first: Int = 20, $after: String) {\n  organizations(first: $first, after: $after) {\n    totalCount\n    pageInfo {\n      hasNextPage\n      endCursor\n    }\n    nodes {\n      id\n      name\n    }\n  }\n}": typeof types.ListOrganizationsDocument,
    "query ListUsers($first: Int = 20, $after: String) {\n  users(first: $first, after: $after) {\n    totalCount\n    pageInfo {\n      hasNextPage\n      endCursor\n    }\n    nodes {\n      id\n      email\n    }\n  }\n}": typeof types.ListUsersDocument,
    "query ListWebhookEndpoints($first: Int = 20, $after: String, $deliveriesFirst: Int = 5) {\n  webhookEndpoints(first: $first, after: $after) {\n    totalCount\n    pageInfo {\n      hasNextPage\n      endCursor\n    }\n    nodes {\n      id\n      url\n      eventTypes\n      description\n      enabled\n      disabledReason\n      failingSince\n      createdAt\n      updatedAt\n      deliveries(first: $deliveriesFirst) {\n        totalCount\n        nodes {\n          id\n          messageId\n          eventType\n          attempt\n          attemptedAt\n          httpStatus\n          durationMs\n          error\n          responseBody\n        }\n      }\n    }\n  }\n}": typeof types.ListWebhookEndpointsDocument,
    "mutation RemoveMember($organizationId: ID!, $userId: ID!) {\n  removeMember(organizationId: $organizationId, userId: $userId) {\n    id\n    organizationId\n    userId\n    role\n  }\n}": typeof types.RemoveMemberDocument,
    "mutation RemoveOrganizationDomain($organizationId: ID!, $domain: String!) {\n  removeOrganizationDomain(organizationId: $organizationId, domain: $domain) {\n    domain\n    verified\n    createdAt\n  }\n}": typeof types.RemoveOrganizationDomainDocument,
    "mutation ReplayWebhookEvents($endpointId: ID!, $after: String) {\n  replayWebhookEvents(endpointId: $endpointId, after: $after) {\n    queuedMessageCount\n    nextCursor\n    endpoint {\n      id\n      enabled\n    }\n  }\n}": typeof types.ReplayWebhookEventsDocument,
    "mutation RevokeInvitation($id: ID!) {\n  revokeInvitation(id: $id) {\n    id\n    email\n    role\n    status\n    expiresAt\n    createdAt\n    decidedAt\n    organization {\n      id\n    }\n  }\n}": typeof types.RevokeInvitationDocument,
    "mutation RotateWebhookSecret($id: ID!) {\n  rotateWebhookSecret(id: $id) {\n    secret\n    endpoint {\n      id\n      updatedAt\n    }\n  }\n}": typeof types.RotateWebhookSecretDocument,
    "mutation TerminateSession($id: ID!) {\n  terminateSession(id: $id) {\n    id\n    userId\n    organizationId\n    terminatedAt\n  }\n}": typeof types.TerminateSessionDocument,
    "mutation TerminateUserSessions($userId: ID!) {\n  terminateUserSessions(userId: $userId) {\n    id\n    userId\n    organizationId\n    terminatedAt\n  }\n}": typeof types.TerminateUserSessionsDocument,
    "mutation UpdateMemberRole($input: UpdateMemberRoleInput!) {\n  updateMemberRole(input: $input) {\n    id\n    role\n    createdAt\n    organization {\n      id\n    }\n    user {\n      id\n    }\n  }\n}": typeof types.UpdateMemberRoleDocument,
    "mutation UpdateOrganization($input: UpdateOrganizationInput!) {\n  updateOrganization(input: $input) {\n    id\n    name\n    externalId\n    settings\n    createdAt\n  }\n}": typeof types.UpdateOrganizationDocument,
    "mutation UpdateUser($input: UpdateUserInput!) {\n  updateUser(input: $input) {\n    id\n    email\n    name\n    externalId\n    createdAt\n  }\n}": typeof types.UpdateUserDocument,
    "mutation UpdateWebhookEndpoint($input: UpdateWebhookEndpointInput!) {\n  updateWebhookEndpoint(input: $input) {\n    id\n    url\n    eventTypes\n    description\n    enabled\n    disabledReason\n    failingSince\n    createdAt\n    updatedAt\n  }\n}": typeof types.UpdateWebhookEndpointDocument,
    "mutation VerifyOrganizationDomain($organizationId: ID!, $domain: String!) {\n  verifyOrganizationDomain(organizationId: $organizationId, domain: $domain) {\n    domain\n    verified\n    createdAt\n  }\n}": typeof types.VerifyOrganizationDomainDocument,
    "query Viewer {\n  viewer {\n    kind\n    user {\n      id\n      email\n    }\n    session {\n      id\n      status\n    }\n  }\n}": typeof types.ViewerDocument,
};
const documents: Documents = {
    "mutation AddMember($input: AddMemberInput!) {\n  addMember(input: $input) {\n    id\n    role\n    createdAt\n    organization {\n      id\n    }\n    user {\n      id\n    }\n  }\n}": types.AddMemberDocument,
    "mutation AddOrganizationDomain($organizationId: ID!, $domain: String!) {\n  addOrganizationDomain(organizationId: $organizationId, domain: $domain) {\n    domain\n    verified\n    createdAt\n  }\n}": types.AddOrganizationDomainDocument,
    "mutation CreateOrganization($input: CreateOrganizationInput!) {\n  createOrganization(input: $input) {\n    id\n    name\n    externalId\n    domains {\n      domain\n      verified\n      createdAt\n    }\n    createdAt\n  }\n}": types.CreateOrganizationDocument,
    "mutation CreateUser($input: CreateUserInput!) {\n  createUser(input: $input) {\n    id\n    email\n    name\n    externalId\n    createdAt\n  }\n}": types.CreateUserDocument,
    "mutation CreateWebhookEndpoint($input: CreateWebhookEndpointInput!) {\n  createWebhookEndpoint(input: $input) {\n    secret\n    endpoint {\n      id\n      url\n      eventTypes\n      description\n      enabled\n      disabledReason\n      failingSince\n      createdAt\n      updatedAt\n    }\n  }\n}": types.CreateWebhookEndpointDocument,
    "mutation DeleteOrganization($id: ID!, $dryRun: Boolean = false) {\n  deleteOrganization(id: $id, dryRun: $dryRun) {\n    deletedOrganizationId\n    dryRun\n    terminatedSessions {\n      id\n      userId\n      organizationId\n      terminatedAt\n    }\n    removedMemberships {\n      id\n      organizationId\n      userId\n      role\n    }\n    cascadedUsers {\n      id\n    }\n    retainedUserIds\n    receipt {\n      ...Receipt\n    }\n  }\n}": types.DeleteOrganizationDocument,
    "mutation DeleteUser($id: ID!, $dryRun: Boolean = false) {\n  deleteUser(id: $id, dryRun: $dryRun) {\n    deletedUserId\n    dryRun\n    terminatedSessions {\n      id\n      userId\n      organizationId\n      terminatedAt\n    }\n    removedMemberships {\n      id\n      organizationId\n      userId\n      role\n    }\n    receipt {\n      ...Receipt\n    }\n  }\n}": types.DeleteUserDocument,
    "mutation DeleteWebhookEndpoint($id: ID!) {\n  deleteWebhookEndpoint(id: $id) {\n    deletedEndpointId\n  }\n}": types.DeleteWebhookEndpointDocument,
    "fragment Receipt on DeletionReceipt {\n  id\n  kind\n  subjectId\n  actor\n  deletedAt\n  terminatedSessionCount\n  removedMembershipCount\n  cascadedUserCount\n  digest\n}\n\nquery GetDeletionReceipt($subjectId: ID!) {\n  deletionReceipt(subjectId: $subjectId) {\n    ...Receipt\n  }\n}": types.ReceiptFragmentDoc,
    "query Events($first: Int = 50, $after: String, $types: [String!]) {\n  events(first: $first, after: $after, types: $types) {\n    totalCount\n    pageInfo {\n      hasNextPage\n      endCursor\n    }\n    nodes {\n      id\n      type\n      occurredAt\n      data\n    }\n  }\n}": types.EventsDocument,
    "query FindOrganizations($filter: OrganizationFilter!, $first: Int = 20, $after: String) {\n  organizations(filter: $filter, first: $first, after: $after) {\n    pageInfo {\n      hasNextPage\n      endCursor\n    }\n    nodes {\n      id\n      name\n      externalId\n      createdAt\n      domains {\n        domain\n        verified\n      }\n    }\n  }\n}": types.FindOrganizationsDocument,
    "query FindUsers($filter: UserFilter!, $first: Int = 20, $after: String) {\n  users(filter: $filter, first: $first, after: $after) {\n    pageInfo {\n      hasNextPage\n      endCursor\n    }\n    nodes {\n      id\n      email\n      name\n      externalId\n      createdAt\n    }\n  }\n}": types.FindUsersDocument,
    "query GetOrganizationInvitations($id: ID!, $status: InvitationStatus, $first: Int = 20, $after: String) {\n  organization(id: $id) {\n    id\n    invitations(status: $status, first: $first, after: $after) {\n      totalCount\n      pageInfo {\n        hasNextPage\n        endCursor\n      }\n      nodes {\n        id\n        email\n        role\n        status\n        expiresAt\n        createdAt\n        decidedAt\n      }\n    }\n  }\n}": types.GetOrganizationInvitationsDocument,
    "query GetOrganizationSettings($id: ID!) {\n  organization(id: $id) {\n    id\n    settings\n  }\n}": types.GetOrganizationSettingsDocument,
    "query GetOrganization($id: ID!, $first: Int = 20, $after: String) {\n  organization(id: $id) {\n    id\n    name\n    externalId\n    createdAt\n    domains {\n      domain\n      verified\n      createdAt\n    }\n    memberships(first: $first, after: $after) {\n      totalCount\n      pageInfo {\n        hasNextPage\n        endCursor\n      }\n      nodes {\n        id\n        role\n        createdAt\n        user {\n          id\n          email\n          name\n        }\n      }\n    }\n  }\n}": types.GetOrganizationDocument,
    "query GetUserSessions($id: ID!, $status: SessionStatus) {\n  user(id: $id) {\n    id\n    sessions(status: $status) {\n      id\n      status\n      expiresAt\n      terminatedAt\n    }\n  }\n}": types.GetUserSessionsDocument,
    "query GetUser($id: ID!) {\n  user(id: $id) {\n    id\n    email\n    name\n    externalId\n    createdAt\n    memberships {\n      id\n      role\n      organization {\n        id\n        name\n      }\n    }\n    sessions {\n      id\n      status\n      createdAt\n      expiresAt\n      terminatedAt\n      organization {\n        id\n      }\n    }\n  }\n}": types.GetUserDocument,
    "query GetWebhookEndpoint($id: ID!, $first: Int = 20, $after: String) {\n  webhookEndpoint(id: $id) {\n    id\n    url\n    eventTypes\n    description\n    enabled\n    disabledReason\n    failingSince\n    createdAt\n    updatedAt\n    deliveries(first: $first, after: $after) {\n      totalCount\n      pageInfo {\n        hasNextPage\n        endCursor\n      }\n      nodes {\n        id\n        messageId\n        eventType\n        attempt\n        attemptedAt\n        httpStatus\n        durationMs\n        error\n        responseBody\n      }\n    }\n  }\n}": types.GetWebhookEndpointDocument,
    "mutation InviteMember($input: InviteMemberInput!) {\n  inviteMember(input: $input) {\n    id\n    email\n    role\n    status\n    expiresAt\n    createdAt\n    decidedAt\n    organization {\n      id\n      name\n    }\n  }\n}": types.InviteMemberDocument,
    "query ListOrganizations($first: Int = 20, $after: String) {\n  organizations(first: $first, after: $after) {\n    totalCount\n    pageInfo {\n      hasNextPage\n      endCursor\n    }\n    nodes {\n      id\n      name\n    }\n  }\n}": types.ListOrganizationsDocument,
    "query ListUsers($first: Int = 20, $after: String) {\n  users(first: $first, after: $after) {\n    totalCount\n    pageInfo {\n      hasNextPage\n      endCursor\n    }\n    nodes {\n      id\n      email\n    }\n  }\n}": types.ListUsersDocument,
    "query ListWebhookEndpoints($first: Int = 20, $after: String, $deliveriesFirst: Int = 5) {\n  webhookEndpoints(first: $first, after: $after) {\n    totalCount\n    pageInfo {\n      hasNextPage\n      endCursor\n    }\n    nodes {\n      id\n      url\n      eventTypes\n      description\n      enabled\n      disabledReason\n      failingSince\n      createdAt\n      updatedAt\n      deliveries(first: $deliveriesFirst) {\n        totalCount\n        nodes {\n          id\n          messageId\n          eventType\n          attempt\n          attemptedAt\n          httpStatus\n          durationMs\n          error\n          responseBody\n        }\n      }\n    }\n  }\n}": types.ListWebhookEndpointsDocument,
    "mutation RemoveMember($organizationId: ID!, $userId: ID!) {\n  removeMember(organizationId: $organizationId, userId: $userId) {\n    id\n    organizationId\n    userId\n    role\n  }\n}": types.RemoveMemberDocument,
    "mutation RemoveOrganizationDomain($organizationId: ID!, $domain: String!) {\n  removeOrganizationDomain(organizationId: $organizationId, domain: $domain) {\n    domain\n    verified\n    createdAt\n  }\n}": types.RemoveOrganizationDomainDocument,
    "mutation ReplayWebhookEvents($endpointId: ID!, $after: String) {\n  replayWebhookEvents(endpointId: $endpointId, after: $after) {\n    queuedMessageCount\n    nextCursor\n    endpoint {\n      id\n      enabled\n    }\n  }\n}": types.ReplayWebhookEventsDocument,
    "mutation RevokeInvitation($id: ID!) {\n  revokeInvitation(id: $id) {\n    id\n    email\n    role\n    status\n    expiresAt\n    createdAt\n    decidedAt\n    organization {\n      id\n    }\n  }\n}": types.RevokeInvitationDocument,
    "mutation RotateWebhookSecret($id: ID!) {\n  rotateWebhookSecret(id: $id) {\n    secret\n    endpoint {\n      id\n      updatedAt\n    }\n  }\n}": types.RotateWebhookSecretDocument,
    "mutation TerminateSession($id: ID!) {\n  terminateSession(id: $id) {\n    id\n    userId\n    organizationId\n    terminatedAt\n  }\n}": types.TerminateSessionDocument,
    "mutation TerminateUserSessions($userId: ID!) {\n  terminateUserSessions(userId: $userId) {\n    id\n    userId\n    organizationId\n    terminatedAt\n  }\n}": types.TerminateUserSessionsDocument,
    "mutation UpdateMemberRole($input: UpdateMemberRoleInput!) {\n  updateMemberRole(input: $input) {\n    id\n    role\n    createdAt\n    organization {\n      id\n    }\n    user {\n      id\n    }\n  }\n}": types.UpdateMemberRoleDocument,
    "mutation UpdateOrganization($input: UpdateOrganizationInput!) {\n  updateOrganization(input: $input) {\n    id\n    name\n    externalId\n    settings\n    createdAt\n  }\n}": types.UpdateOrganizationDocument,
    "mutation UpdateUser($input: UpdateUserInput!) {\n  updateUser(input: $input) {\n    id\n    email\n    name\n    externalId\n    createdAt\n  }\n}": types.UpdateUserDocument,
    "mutation UpdateWebhookEndpoint($input: UpdateWebhookEndpointInput!) {\n  updateWebhookEndpoint(input: $input) {\n    id\n    url\n    eventTypes\n    description\n    enabled\n    disabledReason\n    failingSince\n    createdAt\n    updatedAt\n  }\n}": types.UpdateWebhookEndpointDocument,
    "mutation VerifyOrganizationDomain($organizationId: ID!, $domain: String!) {\n  verifyOrganizationDomain(organizationId: $organizationId, domain: $domain) {\n    domain\n    verified\n    createdAt\n  }\n}": types.VerifyOrganizationDomainDocument,
    "query Viewer {\n  viewer {\n    kind\n    user {\n      id\n      email\n    }\n    session {\n      id\n      status\n    }\n  }\n}": types.ViewerDocument,
};

/**
 * The graphql function is used to parse GraphQL queries into a document that can be used by GraphQL clients.
 *
 *
 * @example
 * ```ts
 * const query = graphql(`query GetUser($id: ID!) { user(id: $id) { name } }`);
 * ```
 *
 * The query argument is unknown!
 * Please regenerate the types.
 */
export function graphql(source: string): unknown;

/**
 * The graphql function is used to parse GraphQL queries into a document that can be used by GraphQL clients.
 */
export function graphql(source: "mutation AddMember($input: AddMemberInput!) {\n  addMember(input: $input) {\n    id\n    role\n    createdAt\n    organization {\n      id\n    }\n    user {\n      id\n    }\n  }\n}"): (typeof documents)["mutation AddMember($input: AddMemberInput!) {\n  addMember(input: $input) {\n    id\n    role\n    createdAt\n    organization {\n      id\n    }\n    user {\n      id\n    }\n  }\n}"];
/**
 * The graphql function is used to parse GraphQL queries into a document that can be used by GraphQL clients.
 */
export function graphql(source: "mutation AddOrganizationDomain($organizationId: ID!, $domain: String!) {\n  addOrganizationDomain(organizationId: $organizationId, domain: $domain) {\n    domain\n    verified\n    createdAt\n  }\n}"): (typeof documents)["mutation AddOrganizationDomain($organizationId: ID!, $domain: String!) {\n  addOrganizationDomain(organizationId: $organizationId, domain: $domain) {\n    domain\n    verified\n    createdAt\n  }\n}"];
/**
 * The graphql function is used to parse GraphQL queries into a document that can be used by GraphQL clients.
 */
export function graphql(source: "mutation CreateOrganization($input: CreateOrganizationInput!) {\n  createOrganization(input: $input) {\n    id\n    name\n    externalId\n    domains {\n      domain\n      verified\n      createdAt\n    }\n    createdAt\n  }\n}"): (typeof documents)["mutation CreateOrganization($input: CreateOrganizationInput!) {\n  createOrganization(input: $input) {\n    id\n    name\n    externalId\n    domains {\n      domain\n      verified\n      createdAt\n    }\n    createdAt\n  }\n}"];
/**
 * The graphql function is used to parse GraphQL queries into a document that can be used by GraphQL clients.
 */
export function graphql(source: "mutation CreateUser($input: CreateUserInput!) {\n  createUser(input: $input) {\n    id\n    email\n    name\n    externalId\n    createdAt\n  }\n}"): (typeof documents)["mutation CreateUser($input: CreateUserInput!) {\n  createUser(input: $input) {\n    id\n    email\n    name\n    externalId\n    createdAt\n  }\n}"];
/**
 * The graphql function is used to parse GraphQL queries into a document that can be used by GraphQL clients.
 */
export function graphql(source: "mutation CreateWebhookEndpoint($input: CreateWebhookEndpointInput!) {\n  createWebhookEndpoint(input: $input) {\n    secret\n    endpoint {\n      id\n      url\n      eventTypes\n      description\n      enabled\n      disabledReason\n      failingSince\n      createdAt\n      updatedAt\n    }\n  }\n}"): (typeof documents)["mutation CreateWebhookEndpoint($input: CreateWebhookEndpointInput!) {\n  createWebhookEndpoint(input: $input) {\n    secret\n    endpoint {\n      id\n      url\n      eventTypes\n      description\n      enabled\n      disabledReason\n      failingSince\n      createdAt\n      updatedAt\n    }\n  }\n}"];
/**
 * The graphql function is used to parse GraphQL queries into a document that can be used by GraphQL clients.
 */
export function graphql(source: "mutation DeleteOrganization($id: ID!, $dryRun: Boolean = false) {\n  deleteOrganization(id: $id, dryRun: $dryRun) {\n    deletedOrganizationId\n    dryRun\n    terminatedSessions {\n      id\n      userId\n      organizationId\n      terminatedAt\n    }\n    removedMemberships {\n      id\n      organizationId\n      userId\n      role\n    }\n    cascadedUsers {\n      id\n    }\n    retainedUserIds\n    receipt {\n      ...Receipt\n    }\n  }\n}"): (typeof documents)["mutation DeleteOrganization($id: ID!, $dryRun: Boolean = false) {\n  deleteOrganization(id: $id, dryRun: $dryRun) {\n    deletedOrganizationId\n    dryRun\n    terminatedSessions {\n      id\n      userId\n      organizationId\n      terminatedAt\n    }\n    removedMemberships {\n      id\n      organizationId\n      userId\n      role\n    }\n    cascadedUsers {\n      id\n    }\n    retainedUserIds\n    receipt {\n      ...Receipt\n    }\n  }\n}"];
/**
 * The graphql function is used to parse GraphQL queries into a document that can be used by GraphQL clients.
 */
export function graphql(source: "mutation DeleteUser($id: ID!, $dryRun: Boolean = false) {\n  deleteUser(id: $id, dryRun: $dryRun) {\n    deletedUserId\n    dryRun\n    terminatedSessions {\n      id\n      userId\n      organizationId\n      terminatedAt\n    }\n    removedMemberships {\n      id\n      organizationId\n      userId\n      role\n    }\n    receipt {\n      ...Receipt\n    }\n  }\n}"): (typeof documents)["mutation DeleteUser($id: ID!, $dryRun: Boolean = false) {\n  deleteUser(id: $id, dryRun: $dryRun) {\n    deletedUserId\n    dryRun\n    terminatedSessions {\n      id\n      userId\n      organizationId\n      terminatedAt\n    }\n    removedMemberships {\n      id\n      organizationId\n      userId\n      role\n    }\n    receipt {\n      ...Receipt\n    }\n  }\n}"];
/**
 * The graphql function is used to parse GraphQL queries into a document that can be used by GraphQL clients.
 */
export function graphql(source: "mutation DeleteWebhookEndpoint($id: ID!) {\n  deleteWebhookEndpoint(id: $id) {\n    deletedEndpointId\n  }\n}"): (typeof documents)["mutation DeleteWebhookEndpoint($id: ID!) {\n  deleteWebhookEndpoint(id: $id) {\n    deletedEndpointId\n  }\n}"];
/**
 * The graphql function is used to parse GraphQL queries into a document that can be used by GraphQL clients.
 */
export function graphql(source: "fragment Receipt on DeletionReceipt {\n  id\n  kind\n  subjectId\n  actor\n  deletedAt\n  terminatedSessionCount\n  removedMembershipCount\n  cascadedUserCount\n  digest\n}\n\nquery GetDeletionReceipt($subjectId: ID!) {\n  deletionReceipt(subjectId: $subjectId) {\n    ...Receipt\n  }\n}"): (typeof documents)["fragment Receipt on DeletionReceipt {\n  id\n  kind\n  subjectId\n  actor\n  deletedAt\n  terminatedSessionCount\n  removedMembershipCount\n  cascadedUserCount\n  digest\n}\n\nquery GetDeletionReceipt($subjectId: ID!) {\n  deletionReceipt(subjectId: $subjectId) {\n    ...Receipt\n  }\n}"];
/**
 * The graphql function is used to parse GraphQL queries into a document that can be used by GraphQL clients.
 */
export function graphql(source: "query Events($first: Int = 50, $after: String, $types: [String!]) {\n  events(first: $first, after: $after, types: $types) {\n    totalCount\n    pageInfo {\n      hasNextPage\n      endCursor\n    }\n    nodes {\n      id\n      type\n      occurredAt\n      data\n    }\n  }\n}"): (typeof documents)["query Events($first: Int = 50, $after: String, $types: [String!]) {\n  events(first: $first, after: $after, types: $types) {\n    totalCount\n    pageInfo {\n      hasNextPage\n      endCursor\n    }\n    nodes {\n      id\n      type\n      occurredAt\n      data\n    }\n  }\n}"];
/**
 * The graphql function is used to parse GraphQL queries into a document that can be used by GraphQL clients.
 */
export function graphql(source: "query FindOrganizations($filter: OrganizationFilter!, $first: Int = 20, $after: String) {\n  organizations(filter: $filter, first: $first, after: $after) {\n    pageInfo {\n      hasNextPage\n      endCursor\n    }\n    nodes {\n      id\n      name\n      externalId\n      createdAt\n      domains {\n        domain\n        verified\n      }\n    }\n  }\n}"): (typeof documents)["query FindOrganizations($filter: OrganizationFilter!, $first: Int = 20, $after: String) {\n  organizations(filter: $filter, first: $first, after: $after) {\n    pageInfo {\n      hasNextPage\n      endCursor\n    }\n    nodes {\n      id\n      name\n      externalId\n      createdAt\n      domains {\n        domain\n        verified\n      }\n    }\n  }\n}"];
/**
 * The graphql function is used to parse GraphQL queries into a document that can be used by GraphQL clients.
 */
export function graphql(source: "query FindUsers($filter: UserFilter!, $first: Int = 20, $after: String) {\n  users(filter: $filter, first: $first, after: $after) {\n    pageInfo {\n      hasNextPage\n      endCursor\n    }\n    nodes {\n      id\n      email\n      name\n      externalId\n      createdAt\n    }\n  }\n}"): (typeof documents)["query FindUsers($filter: UserFilter!, $first: Int = 20, $after: String) {\n  users(filter: $filter, first: $first, after: $after) {\n    pageInfo {\n      hasNextPage\n      endCursor\n    }\n    nodes {\n      id\n      email\n      name\n      externalId\n      createdAt\n    }\n  }\n}"];
/**
 * The graphql function is used to parse GraphQL queries into a document that can be used by GraphQL clients.
 */
export function graphql(source: "query GetOrganizationInvitations($id: ID!, $status: InvitationStatus, $first: Int = 20, $after: String) {\n  organization(id: $id) {\n    id\n    invitations(status: $status, first: $first, after: $after) {\n      totalCount\n      pageInfo {\n        hasNextPage\n        endCursor\n      }\n      nodes {\n        id\n        email\n        role\n        status\n        expiresAt\n        createdAt\n        decidedAt\n      }\n    }\n  }\n}"): (typeof documents)["query GetOrganizationInvitations($id: ID!, $status: InvitationStatus, $first: Int = 20, $after: String) {\n  organization(id: $id) {\n    id\n    invitations(status: $status, first: $first, after: $after) {\n      totalCount\n      pageInfo {\n        hasNextPage\n        endCursor\n      }\n      nodes {\n        id\n        email\n        role\n        status\n        expiresAt\n        createdAt\n        decidedAt\n      }\n    }\n  }\n}"];
/**
 * The graphql function is used to parse GraphQL queries into a document that can be used by GraphQL clients.
 */
export function graphql(source: "query GetOrganizationSettings($id: ID!) {\n  organization(id: $id) {\n    id\n    settings\n  }\n}"): (typeof documents)["query GetOrganizationSettings($id: ID!) {\n  organization(id: $id) {\n    id\n    settings\n  }\n}"];
/**
 * The graphql function is used to parse GraphQL queries into a document that can be used by GraphQL clients.
 */
export function graphql(source: "query GetOrganization($id: ID!, $first: Int = 20, $after: String) {\n  organization(id: $id) {\n    id\n    name\n    externalId\n    createdAt\n    domains {\n      domain\n      verified\n      createdAt\n    }\n    memberships(first: $first, after: $after) {\n      totalCount\n      pageInfo {\n        hasNextPage\n        endCursor\n      }\n      nodes {\n        id\n        role\n        createdAt\n        user {\n          id\n          email\n          name\n        }\n      }\n    }\n  }\n}"): (typeof documents)["query GetOrganization($id: ID!, $first: Int = 20, $after: String) {\n  organization(id: $id) {\n    id\n    name\n    externalId\n    createdAt\n    domains {\n      domain\n      verified\n      createdAt\n    }\n    memberships(first: $first, after: $after) {\n      totalCount\n      pageInfo {\n        hasNextPage\n        endCursor\n      }\n      nodes {\n        id\n        role\n        createdAt\n        user {\n          id\n          email\n          name\n        }\n      }\n    }\n  }\n}"];
/**
 * The graphql function is used to parse GraphQL queries into a document that can be used by GraphQL clients.
 */
export function graphql(source: "query GetUserSessions($id: ID!, $status: SessionStatus) {\n  user(id: $id) {\n    id\n    sessions(status: $status) {\n      id\n      status\n      expiresAt\n      terminatedAt\n    }\n  }\n}"): (typeof documents)["query GetUserSessions($id: ID!, $status: SessionStatus) {\n  user(id: $id) {\n    id\n    sessions(status: $status) {\n      id\n      status\n      expiresAt\n      terminatedAt\n    }\n  }\n}"];
/**
 * The graphql function is used to parse GraphQL queries into a document that can be used by GraphQL clients.
 */
export function graphql(source: "query GetUser($id: ID!) {\n  user(id: $id) {\n    id\n    email\n    name\n    externalId\n    createdAt\n    memberships {\n      id\n      role\n      organization {\n        id\n        name\n      }\n    }\n    sessions {\n      id\n      status\n      createdAt\n      expiresAt\n      terminatedAt\n      organization {\n        id\n      }\n    }\n  }\n}"): (typeof documents)["query GetUser($id: ID!) {\n  user(id: $id) {\n    id\n    email\n    name\n    externalId\n    createdAt\n    memberships {\n      id\n      role\n      organization {\n        id\n        name\n      }\n    }\n    sessions {\n      id\n      status\n      createdAt\n      expiresAt\n      terminatedAt\n      organization {\n        id\n      }\n    }\n  }\n}"];
/**
 * The graphql function is used to parse GraphQL queries into a document that can be used by GraphQL clients.
 */
export function graphql(source: "query GetWebhookEndpoint($id: ID!, $first: Int = 20, $after: String) {\n  webhookEndpoint(id: $id) {\n    id\n    url\n    eventTypes\n    description\n    enabled\n    disabledReason\n    failingSince\n    createdAt\n    updatedAt\n    deliveries(first: $first, after: $after) {\n      totalCount\n      pageInfo {\n        hasNextPage\n        endCursor\n      }\n      nodes {\n        id\n        messageId\n        eventType\n        attempt\n        attemptedAt\n        httpStatus\n        durationMs\n        error\n        responseBody\n      }\n    }\n  }\n}"): (typeof documents)["query GetWebhookEndpoint($id: ID!, $first: Int = 20, $after: String) {\n  webhookEndpoint(id: $id) {\n    id\n    url\n    eventTypes\n    description\n    enabled\n    disabledReason\n    failingSince\n    createdAt\n    updatedAt\n    deliveries(first: $first, after: $after) {\n      totalCount\n      pageInfo {\n        hasNextPage\n        endCursor\n      }\n      nodes {\n        id\n        messageId\n        eventType\n        attempt\n        attemptedAt\n        httpStatus\n        durationMs\n        error\n        responseBody\n      }\n    }\n  }\n}"];
/**
 * The graphql function is used to parse GraphQL queries into a document that can be used by GraphQL clients.
 */
export function graphql(source: "mutation InviteMember($input: InviteMemberInput!) {\n  inviteMember(input: $input) {\n    id\n    email\n    role\n    status\n    expiresAt\n    createdAt\n    decidedAt\n    organization {\n      id\n      name\n    }\n  }\n}"): (typeof documents)["mutation InviteMember($input: InviteMemberInput!) {\n  inviteMember(input: $input) {\n    id\n    email\n    role\n    status\n    expiresAt\n    createdAt\n    decidedAt\n    organization {\n      id\n      name\n    }\n  }\n}"];
/**
 * The graphql function is used to parse GraphQL queries into a document that can be used by GraphQL clients.
 */
export function graphql(source: "query ListOrganizations($first: Int = 20, $after: String) {\n  organizations(first: $first, after: $after) {\n    totalCount\n    pageInfo {\n      hasNextPage\n      endCursor\n    }\n    nodes {\n      id\n      name\n    }\n  }\n}"): (typeof documents)["query ListOrganizations($first: Int = 20, $after: String) {\n  organizations(first: $first, after: $after) {\n    totalCount\n    pageInfo {\n      hasNextPage\n      endCursor\n    }\n    nodes {\n      id\n      name\n    }\n  }\n}"];
/**
 * The graphql function is used to parse GraphQL queries into a document that can be used by GraphQL clients.
 */
export function graphql(source: "query ListUsers($first: Int = 20, $after: String) {\n  users(first: $first, after: $after) {\n    totalCount\n    pageInfo {\n      hasNextPage\n      endCursor\n    }\n    nodes {\n      id\n      email\n    }\n  }\n}"): (typeof documents)["query ListUsers($first: Int = 20, $after: String) {\n  users(first: $first, after: $after) {\n    totalCount\n    pageInfo {\n      hasNextPage\n      endCursor\n    }\n    nodes {\n      id\n      email\n    }\n  }\n}"];
/**
 * The graphql function is used to parse GraphQL queries into a document that can be used by GraphQL clients.
 */
export function graphql(source: "query ListWebhookEndpoints($first: Int = 20, $after: String, $deliveriesFirst: Int = 5) {\n  webhookEndpoints(first: $first, after: $after) {\n    totalCount\n    pageInfo {\n      hasNextPage\n      endCursor\n    }\n    nodes {\n      id\n      url\n      eventTypes\n      description\n      enabled\n      disabledReason\n      failingSince\n      createdAt\n      updatedAt\n      deliveries(first: $deliveriesFirst) {\n        totalCount\n        nodes {\n          id\n          messageId\n          eventType\n          attempt\n          attemptedAt\n          httpStatus\n          durationMs\n          error\n          responseBody\n        }\n      }\n    }\n  }\n}"): (typeof documents)["query ListWebhookEndpoints($first: Int = 20, $after: String, $deliveriesFirst: Int = 5) {\n  webhookEndpoints(first: $first, after: $after) {\n    totalCount\n    pageInfo {\n      hasNextPage\n      endCursor\n    }\n    nodes {\n      id\n      url\n      eventTypes\n      description\n      enabled\n      disabledReason\n      failingSince\n      createdAt\n      updatedAt\n      deliveries(first: $deliveriesFirst) {\n        totalCount\n        nodes {\n          id\n          messageId\n          eventType\n          attempt\n          attemptedAt\n          httpStatus\n          durationMs\n          error\n          responseBody\n        }\n      }\n    }\n  }\n}"];
/**
 * The graphql function is used to parse GraphQL queries into a document that can be used by GraphQL clients.
 */
export function graphql(source: "mutation RemoveMember($organizationId: ID!, $userId: ID!) {\n  removeMember(organizationId: $organizationId, userId: $userId) {\n    id\n    organizationId\n    userId\n    role\n  }\n}"): (typeof documents)["mutation RemoveMember($organizationId: ID!, $userId: ID!) {\n  removeMember(organizationId: $organizationId, userId: $userId) {\n    id\n    organizationId\n    userId\n    role\n  }\n}"];
/**
 * The graphql function is used to parse GraphQL queries into a document that can be used by GraphQL clients.
 */
export function graphql(source: "mutation RemoveOrganizationDomain($organizationId: ID!, $domain: String!) {\n  removeOrganizationDomain(organizationId: $organizationId, domain: $domain) {\n    domain\n    verified\n    createdAt\n  }\n}"): (typeof documents)["mutation RemoveOrganizationDomain($organizationId: ID!, $domain: String!) {\n  removeOrganizationDomain(organizationId: $organizationId, domain: $domain) {\n    domain\n    verified\n    createdAt\n  }\n}"];
/**
 * The graphql function is used to parse GraphQL queries into a document that can be used by GraphQL clients.
 */
export function graphql(source: "mutation ReplayWebhookEvents($endpointId: ID!, $after: String) {\n  replayWebhookEvents(endpointId: $endpointId, after: $after) {\n    queuedMessageCount\n    nextCursor\n    endpoint {\n      id\n      enabled\n    }\n  }\n}"): (typeof documents)["mutation ReplayWebhookEvents($endpointId: ID!, $after: String) {\n  replayWebhookEvents(endpointId: $endpointId, after: $after) {\n    queuedMessageCount\n    nextCursor\n    endpoint {\n      id\n      enabled\n    }\n  }\n}"];
/**
 * The graphql function is used to parse GraphQL queries into a document that can be used by GraphQL clients.
 */
export function graphql(source: "mutation RevokeInvitation($id: ID!) {\n  revokeInvitation(id: $id) {\n    id\n    email\n    role\n    status\n    expiresAt\n    createdAt\n    decidedAt\n    organization {\n      id\n    }\n  }\n}"): (typeof documents)["mutation RevokeInvitation($id: ID!) {\n  revokeInvitation(id: $id) {\n    id\n    email\n    role\n    status\n    expiresAt\n    createdAt\n    decidedAt\n    organization {\n      id\n    }\n  }\n}"];
/**
 * The graphql function is used to parse GraphQL queries into a document that can be used by GraphQL clients.
 */
export function graphql(source: "mutation RotateWebhookSecret($id: ID!) {\n  rotateWebhookSecret(id: $id) {\n    secret\n    endpoint {\n      id\n      updatedAt\n    }\n  }\n}"): (typeof documents)["mutation RotateWebhookSecret($id: ID!) {\n  rotateWebhookSecret(id: $id) {\n    secret\n    endpoint {\n      id\n      updatedAt\n    }\n  }\n}"];
/**
 * The graphql function is used to parse GraphQL queries into a document that can be used by GraphQL clients.
 */
export function graphql(source: "mutation TerminateSession($id: ID!) {\n  terminateSession(id: $id) {\n    id\n    userId\n    organizationId\n    terminatedAt\n  }\n}"): (typeof documents)["mutation TerminateSession($id: ID!) {\n  terminateSession(id: $id) {\n    id\n    userId\n    organizationId\n    terminatedAt\n  }\n}"];
/**
 * The graphql function is used to parse GraphQL queries into a document that can be used by GraphQL clients.
 */
export function graphql(source: "mutation TerminateUserSessions($userId: ID!) {\n  terminateUserSessions(userId: $userId) {\n    id\n    userId\n    organizationId\n    terminatedAt\n  }\n}"): (typeof documents)["mutation TerminateUserSessions($userId: ID!) {\n  terminateUserSessions(userId: $userId) {\n    id\n    userId\n    organizationId\n    terminatedAt\n  }\n}"];
/**
 * The graphql function is used to parse GraphQL queries into a document that can be used by GraphQL clients.
 */
export function graphql(source: "mutation UpdateMemberRole($input: UpdateMemberRoleInput!) {\n  updateMemberRole(input: $input) {\n    id\n    role\n    createdAt\n    organization {\n      id\n    }\n    user {\n      id\n    }\n  }\n}"): (typeof documents)["mutation UpdateMemberRole($input: UpdateMemberRoleInput!) {\n  updateMemberRole(input: $input) {\n    id\n    role\n    createdAt\n    organization {\n      id\n    }\n    user {\n      id\n    }\n  }\n}"];
/**
 * The graphql function is used to parse GraphQL queries into a document that can be used by GraphQL clients.
 */
export function graphql(source: "mutation UpdateOrganization($input: UpdateOrganizationInput!) {\n  updateOrganization(input: $input) {\n    id\n    name\n    externalId\n    settings\n    createdAt\n  }\n}"): (typeof documents)["mutation UpdateOrganization($input: UpdateOrganizationInput!) {\n  updateOrganization(input: $input) {\n    id\n    name\n    externalId\n    settings\n    createdAt\n  }\n}"];
/**
 * The graphql function is used to parse GraphQL queries into a document that can be used by GraphQL clients.
 */
export function graphql(source: "mutation UpdateUser($input: UpdateUserInput!) {\n  updateUser(input: $input) {\n    id\n    email\n    name\n    externalId\n    createdAt\n  }\n}"): (typeof documents)["mutation UpdateUser($input: UpdateUserInput!) {\n  updateUser(input: $input) {\n    id\n    email\n    name\n    externalId\n    createdAt\n  }\n}"];
/**
 * The graphql function is used to parse GraphQL queries into a document that can be used by GraphQL clients.
 */
export function graphql(source: "mutation UpdateWebhookEndpoint($input: UpdateWebhookEndpointInput!) {\n  updateWebhookEndpoint(input: $input) {\n    id\n    url\n    eventTypes\n    description\n    enabled\n    disabledReason\n    failingSince\n    createdAt\n    updatedAt\n  }\n}"): (typeof documents)["mutation UpdateWebhookEndpoint($input: UpdateWebhookEndpointInput!) {\n  updateWebhookEndpoint(input: $input) {\n    id\n    url\n    eventTypes\n    description\n    enabled\n    disabledReason\n    failingSince\n    createdAt\n    updatedAt\n  }\n}"];
/**
 * The graphql function is used to parse GraphQL queries into a document that can be used by GraphQL clients.
 */
export function graphql(source: "mutation VerifyOrganizationDomain($organizationId: ID!, $domain: String!) {\n  verifyOrganizationDomain(organizationId: $organizationId, domain: $domain) {\n    domain\n    verified\n    createdAt\n  }\n}"): (typeof documents)["mutation VerifyOrganizationDomain($organizationId: ID!, $domain: String!) {\n  verifyOrganizationDomain(organizationId: $organizationId, domain: $domain) {\n    domain\n    verified\n    createdAt\n  }\n}"];
/**
 * The graphql function is used to parse GraphQL queries into a document that can be used by GraphQL clients.
 */
export function graphql(source: "query Viewer {\n  viewer {\n    kind\n    user {\n      id\n      email\n    }\n    session {\n      id\n      status\n    }\n  }\n}"): (typeof documents)["query Viewer {\n  viewer {\n    kind\n    user {\n      id\n      email\n    }\n    session {\n      id\n      status\n    }\n  }\n}"];

export function graphql(source: string) {
  return (documents as any)[source] ?? {};
}

export type DocumentType<TDocumentNode extends DocumentNode<any, any>> = TDocumentNode extends DocumentNode<  infer TType,  any>  ? TType  : never;