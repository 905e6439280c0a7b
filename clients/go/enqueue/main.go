// Command enqueue creates a Cloud Tasks queue and an HTTP task in it, then prints both
// names as JSON. With CLOUD_TASKS_EMULATOR_HOST=host:port set it talks to the emulator
// (plain-text gRPC, no credentials); without it, to Cloud Tasks.
//
//	CLOUD_TASKS_EMULATOR_HOST=127.0.0.1:8123 enqueue \
//	    projects/local-project/locations/us-central1/queues/emails http://127.0.0.1:8080/send
package main

import (
	"context"
	"encoding/json"
	"log"
	"os"
	"path"

	cloudtasks "cloud.google.com/go/cloudtasks/apiv2"
	"google.golang.org/api/option"
	taskspb "google.golang.org/genproto/googleapis/cloud/tasks/v2"
	"google.golang.org/grpc"
)

func main() {
	if len(os.Args) != 3 {
		log.Fatal("usage: enqueue QUEUE_NAME TARGET_URL")
	}
	queueName, url := os.Args[1], os.Args[2]
	ctx := context.Background()

	var opts []option.ClientOption
	if host := os.Getenv("CLOUD_TASKS_EMULATOR_HOST"); host != "" {
		opts = append(opts,
			option.WithEndpoint(host),
			option.WithoutAuthentication(),
			option.WithGRPCDialOption(grpc.WithInsecure()),
		)
	}
	client, err := cloudtasks.NewClient(ctx, opts...)
	if err != nil {
		log.Fatal(err)
	}
	defer client.Close()

	queue, err := client.CreateQueue(ctx, &taskspb.CreateQueueRequest{
		Parent: path.Dir(path.Dir(queueName)), // projects/P/locations/L
		Queue:  &taskspb.Queue{Name: queueName},
	})
	if err != nil {
		log.Fatal(err)
	}
	task, err := client.CreateTask(ctx, &taskspb.CreateTaskRequest{
		Parent: queue.Name,
		Task: &taskspb.Task{
			MessageType: &taskspb.Task_HttpRequest{HttpRequest: &taskspb.HttpRequest{
				HttpMethod: taskspb.HttpMethod_POST,
				Url:        url,
				Headers:    map[string]string{"Content-Type": "application/json"},
				Body:       []byte(`{"to": "a@example.com"}`),
			}},
		},
	})
	if err != nil {
		log.Fatal(err)
	}
	json.NewEncoder(os.Stdout).Encode(map[string]string{"queue": queue.Name, "task": task.Name})
}
